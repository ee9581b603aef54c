"""Two pictures of the plan, drawn from its own data. Pure.

- **trust**: who signs what. Each CA -> each certificate it signs, labelled with the file, its
  use (client, server) and the name it carries (CN, and O as the group).
- **connections**: who presents which certificate to whom. Each TLS connection as client ->
  server: a kubeconfig's user presents its client certificate to the server it is
  `served_by`; the kube-apiserver presents its etcd and kubelet client certificates (from its
  flags file) to etcd and to each kubelet, and front-proxy-client to the aggregated API
  servers; etcd members present their peer certificates to each other. Each server says which
  certificate it presents.

Rows made once per node are drawn once ("kubelet ×3", "kubelet-client-NODE.crt") unless
`per_node`. Every label is a list of lines; a line is never broken inside a name. Rendered as
Mermaid (for Markdown) or Graphviz dot; `render` draws a dot source with the dot program.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import Plan
from kpki_openssl.teach.kinds import Rows

# the client-certificate flag of a program's flags file -> the program it dials
CLIENT_FLAGS = {
    "--etcd-certfile": "etcd",
    "--kubelet-client-certificate": "kubelet",
    "--proxy-client-cert-file": "aggregated API server",
}
SERVING_FLAGS = ("--tls-cert-file", "--cert-file")  # the certificate a program serves with
SERVING_FIELDS = ("tlsCertFile",)  # the same in a YAML configuration (KubeletConfiguration)
AGGREGATED = "aggregated API server"
PICTURES = ("trust", "connections")


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: tuple[str, ...]  # lines
    kind: str  # "tls" (client -> server), "peer" (both ways) or "signs" (CA -> certificate)


@dataclass
class Graph:
    """One picture: nodes (id -> label lines), the CAs among them, and the edges; drawn
    left to right (LR) or top down (TB)."""

    name: str
    title: str
    direction: str = "LR"
    nodes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    cas: list[str] = field(default_factory=list)
    _ids: dict[str, str] = field(default_factory=dict)  # name -> id
    _seen: set[Edge] = field(default_factory=set)

    def node(self, name: str, label: Sequence[str]) -> str:
        """The node named `name` (made on first use). Its id is n_ and [A-Za-z0-9_] from the
        name, numbered when another name gave it already, so no recipe text is ever written
        where Mermaid or dot read syntax (and never a keyword: node, edge, end, graph)."""
        ident = self._ids.get(name)
        if ident is not None:
            return ident
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        ident, n = base, 1
        while ident in self.nodes:
            n += 1
            ident = f"{base}_{n}"
        self._ids[name] = ident
        self.nodes[ident] = tuple(label)
        return ident

    def edge(self, edge: Edge) -> None:
        """Add `edge` once (a set, not a search of the list: linear in nodes)."""
        if edge not in self._seen:
            self._seen.add(edge)
            self.edges.append(edge)


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _role(spec: CertSpec) -> str:
    usage = spec.extended_key_usage
    if "serverAuth" in usage and "clientAuth" in usage:
        return "server and client"
    if "serverAuth" in usage:
        return "server"
    return "client" if "clientAuth" in usage else "certificate"


def trust(plan: Plan, per_node: bool = False) -> Graph:
    """Who signs what: each CA -> each certificate it signs (a CA it signs is a CA node)."""
    rows = Rows(plan, per_node)
    g = Graph("trust", "Who signs what: each CA and the certificates it signs")

    def ca_node(spec: CertSpec) -> str:
        ident = g.node(f"ca {spec.name}", (f"CA {spec.name}", spec.cert_file))
        if ident not in g.cas:
            g.cas.append(ident)
        return ident

    for spec in plan.certs:
        if spec.is_ca and not spec.ca:
            ca_node(spec)
    by_name = {c.name: c for c in plan.certs}
    for spec in plan.certs:
        signer = by_name.get(spec.ca or "")
        if signer is None or spec.name == signer.name:
            continue
        src = ca_node(signer)
        if spec.is_ca:
            g.edge(Edge(src, ca_node(spec), (), "signs"))
            continue
        file = rows.name(spec.cert_file)
        times = rows.count(spec.cert_file)
        label = (
            file + (f" ×{times}" if times > 1 else ""),
            _role(spec),
            f"CN={rows.name(spec.common_name)}",
            *(f"O={rows.name(o)}" for o in spec.organizations),
        )
        g.edge(Edge(src, g.node(f"cert {file}", label), (), "signs"))
    return g


def connections(plan: Plan, per_node: bool = False) -> Graph:
    """Who presents which certificate to whom: client -> server, labelled with what the client
    presents; each server says what it presents."""
    rows = Rows(plan, per_node)
    g = Graph("connections", "Who presents which certificate to whom: client -> server", "TB")
    by_base = {_base(c.cert_file): c for c in plan.certs}
    holder: dict[str, str] = {}  # cert step name -> node id of the program holding it
    programs: dict[str, list[str]] = {}  # program -> node ids
    item_holder: dict[str, str] = {}  # a for_each item (node01) -> its program's node

    def program_node(program: str, item: str, serving: Sequence[CertSpec]) -> str:
        """A program (on one item: kubelet node01), drawn once for all items unless per node."""
        times = rows.count(item) if item else 1
        title = f"{program} ×{times}" if times > 1 else f"{program} {item}".strip()
        files = ", ".join(dict.fromkeys(rows.name(s.cert_file) for s in serving))
        return g.node(title, (title, f"presents {files}") if files else (title,))

    # programs configured by component files, and the certificates each one serves or names
    for comp in plan.components:
        named = _named_certs(comp, by_base)
        item = next((s.for_each[1] for s in named if s.for_each), "")
        serving = [
            by_base[_base(v)] for k, v in comp.flags if k in SERVING_FLAGS and _base(v) in by_base
        ] + [
            by_base[_base(str(comp.data.get(f)))]
            for f in SERVING_FIELDS
            if isinstance(comp.data, dict) and _base(str(comp.data.get(f, ""))) in by_base
        ]
        if not comp.program or not (serving or named):
            continue
        ident = program_node(comp.program, item, serving)
        if ident not in programs.setdefault(comp.program, []):
            programs[comp.program].append(ident)
        if item:
            item_holder.setdefault(item, ident)
        for spec in named:
            holder.setdefault(spec.name, ident)
    # kubeconfigs: the user's program presents the client certificate to the server
    certs = {c.name: c for c in plan.certs}
    for kc in plan.kubeconfigs:
        client = certs.get(kc.client)
        item = client.for_each[1] if client is not None and client.for_each else ""
        user = kc.file.rsplit(".", 1)[0]
        if item and not rows.per_node and rows.count(item) > 1:
            user = f"{rows.name(user)} ×{rows.count(item)}"
        src = item_holder.get(item) or g.node(
            user, (user + (" (kubectl)" if "admin" in user else ""),)
        )
        if client is not None:
            holder.setdefault(client.name, src)
        served = certs.get(kc.served_by)
        if served is None:
            continue
        dst = holder.get(served.name) or program_node(served.name, "", [served])
        holder.setdefault(served.name, dst)
        g.edge(Edge(src, dst, (rows.name(kc.cert_file), f"({rows.name(kc.file)})"), "tls"))
    # client certificates named in flags files: kube-apiserver -> etcd, kubelets, aggregation
    for comp in plan.components:
        for flag, value in comp.flags:
            target = CLIENT_FLAGS.get(flag)
            spec = by_base.get(_base(str(value)))
            if target is None or spec is None or spec.name not in holder:
                continue
            targets = programs.get(target, [])
            if target == AGGREGATED and not targets:
                ca = certs.get(spec.ca or "")
                trusts = f"trusts {ca.cert_file}" if ca is not None else "trusts its CA"
                targets = [g.node(AGGREGATED, (AGGREGATED, "(metrics-server, ...)", trusts))]
            for dst in targets:
                g.edge(Edge(holder[spec.name], dst, (rows.name(spec.cert_file),), "tls"))
    members = programs.get("etcd", [])
    for i, one in enumerate(members):
        for other in members[i + 1 :]:
            g.edge(Edge(one, other, ("peer", "certificates"), "peer"))
    if len(members) == 1 and "×" in g.nodes[members[0]][0]:  # several members, drawn once
        g.edge(Edge(members[0], members[0], ("peer", "certificates"), "peer"))
    return g


def _named_certs(comp, by_base: dict[str, CertSpec]) -> list[CertSpec]:
    """The certificates (not CAs) a component file names, in the order it names them."""
    values = [v for _k, v in comp.flags] + _strings(comp.data)
    out = []
    for value in values:
        spec = by_base.get(_base(str(value)))
        if spec is not None and not spec.is_ca and spec not in out:
            out.append(spec)
    return out


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def graphs(plan: Plan, picture: str = "both", per_node: bool = False) -> list[Graph]:
    """The pictures asked for: trust, connections, or both (in that order)."""
    chosen = PICTURES if picture == "both" else (picture,)
    return [trust(plan, per_node) if p == "trust" else connections(plan, per_node) for p in chosen]


def _merged(g: Graph, kind: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Edges of one kind between the same two nodes, their labels' lines joined."""
    merged: dict[tuple[str, str], list[str]] = {}
    for e in g.edges:
        if e.kind == kind:
            lines = merged.setdefault((e.src, e.dst), [])
            lines.extend(ln for ln in e.label if ln not in lines)
    return [(s, d, tuple(lines)) for (s, d), lines in merged.items()]


_SAFE = re.compile(r"[A-Za-z0-9 ._:/,()@+=×-]")


def _mermaid_text(lines: Sequence[str]) -> str:
    """Label lines for Mermaid, joined with <br/>: every character that is not a letter, digit
    or plain punctuation as an entity code (#34; for a quote), so a label can neither end its
    quotes nor be read as markup."""
    return "<br/>".join(
        "".join(c if _SAFE.fullmatch(c) else f"#{ord(c)};" for c in ln) for ln in lines
    )


def clients_in_rows(g: Graph, per_row: int = 2) -> list[tuple[str, str]]:
    """Pairs (upper, lower) that put the pure clients (nodes that only dial) in rows of
    `per_row`, so that a top-down picture grows down rather than wide."""
    dialled = {e.dst for e in g.edges}
    sources = [n for n in g.nodes if n not in dialled and any(e.src == n for e in g.edges)]
    return [(sources[i], sources[i + per_row]) for i in range(len(sources) - per_row)]


def mermaid_graph(g: Graph) -> str:
    """One picture as a Mermaid flowchart."""
    out = [
        '%%{init: {"flowchart": {"htmlLabels": true, "wrappingWidth": 600}}}%%',
        f"flowchart {g.direction}",
    ]
    for ident, label in g.nodes.items():
        shape = ('[["', '"]]') if ident in g.cas else ('["', '"]')
        out.append(f"  {ident}{shape[0]}{_mermaid_text(label)}{shape[1]}")
    arrows = {"tls": "-->", "peer": "<-->", "signs": "-.->"}
    for kind, arrow in arrows.items():
        for src, dst, label in _merged(g, kind):
            text = f'|"{_mermaid_text(label)}"|' if label else ""
            out.append(f"  {src} {arrow}{text} {dst}")
    return "\n".join(out) + "\n"


def mermaid(plan: Plan, picture: str = "both", per_node: bool = False) -> str:
    """The pictures as Mermaid flowcharts, each after a `%% NAME: title` comment."""
    return "\n".join(
        f"%% {g.name}: {g.title}\n" + mermaid_graph(g) for g in graphs(plan, picture, per_node)
    )


def _dot_text(lines: Sequence[str]) -> str:
    """Label lines for dot: one quoted string, lines ended by \\l-free \\n, quotes escaped."""
    escaped = [ln.replace("\\", "\\\\").replace('"', '\\"') for ln in lines]
    return '"' + "\\n".join(escaped) + '"'


def dot_graph(g: Graph) -> str:
    """One picture for Graphviz (`dot -Tsvg`)."""
    ranksep = 0.9 if g.direction == "TB" else 0.5  # room for the labels between the rows
    out = [
        f"digraph {g.name} {{",
        f"  label={_dot_text([g.title])}; labelloc=t; fontsize=16;",
        f"  rankdir={g.direction}; nodesep=0.3; ranksep={ranksep};",
        '  node [shape=box, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for ident, label in g.nodes.items():
        shape = " shape=box3d" if ident in g.cas else ""
        out.append(f"  {ident} [label={_dot_text(label)}{shape}];")
    for src, dst, label in _merged(g, "tls"):
        out.append(f"  {src} -> {dst}" + (f" [label={_dot_text(label)}];" if label else ";"))
    for src, dst, label in _merged(g, "peer"):
        out.append(f"  {src} -> {dst} [label={_dot_text(label)} dir=both];")
    for src, dst, _label in _merged(g, "signs"):
        out.append(f"  {src} -> {dst} [style=dashed];")
    if g.direction == "TB":
        out += [f"  {a} -> {b} [style=invis];" for a, b in clients_in_rows(g)]
    out.append("}")
    return "\n".join(out) + "\n"


def dot(plan: Plan, picture: str = "both", per_node: bool = False) -> str:
    """The pictures for Graphviz, one `digraph` each (dot draws each as its own image)."""
    return "\n".join(dot_graph(g) for g in graphs(plan, picture, per_node))


def render(source: str, out: Path, fmt: str = "svg") -> Path:
    """Draw one dot source into `out` with the dot program (base.processes runs it)."""
    from kpki_openssl.base import processes

    src = out.with_suffix(".dot")
    src.write_text(source)
    done = processes.run(["dot", f"-T{fmt}", str(src), "-o", str(out)], timeout=processes.READ)
    if not done.ok:
        from kpki_openssl.base.errors import KpkiError

        raise KpkiError(f"dot: could not draw {src.name}: {done.stderr.strip()[:200]}")
    return out
