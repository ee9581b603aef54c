"""Who presents which certificate to whom, drawn from the plan: each TLS connection as a client
-> server edge labelled with the client's certificate file, each CA -> what it signs.

The connections come from the plan's own data: a kubeconfig's client certificate and the server
certificate it is `served_by`; the kube-apiserver flags file's etcd and kubelet client files; the
etcd members' peer files; each kubelet's serving file. Programs are named after the files that
configure them. Rendered as Mermaid (for the handout) or Graphviz dot. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import Plan

# the client-certificate flag of a program's flags file -> the program it dials
CLIENT_FLAGS = {"--etcd-certfile": "etcd", "--kubelet-client-certificate": "kubelet"}
SERVING_FLAGS = ("--tls-cert-file", "--cert-file")  # the certificate a program serves with
SERVING_FIELDS = ("tlsCertFile",)  # the same in a YAML configuration (KubeletConfiguration)


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str
    kind: str  # "tls" (client -> server), "peer" (both ways) or "signs" (CA -> holder)


# Words a Mermaid flowchart reads as syntax where a node id stands: such an id gets a '_'.
_MERMAID_WORDS = frozenset(
    ("end", "graph", "subgraph", "flowchart", "flowchart-elk", "style", "class", "classdef")
    + ("click", "linkstyle", "direction", "call", "href", "default", "interpolate")
)


@dataclass
class Graph:
    """Nodes (id -> label lines) and edges, each added once. Ids are made of [A-Za-z0-9_]
    from the name (a second name giving the same id gets a number), so no recipe text is
    ever written where Mermaid or dot read syntax; labels are escaped by the renderers."""

    nodes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    cas: list[str] = field(default_factory=list)  # node ids of the CAs
    _ids: dict[str, str] = field(default_factory=dict)  # name -> id
    _seen: set[Edge] = field(default_factory=set)

    def node(self, name: str, *label: str) -> str:
        ident = self._ids.get(name)
        if ident is not None:
            return ident
        base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
        if base.lower() in _MERMAID_WORDS:
            base += "_"
        ident, n = base, 1
        while ident in self.nodes:
            n += 1
            ident = f"{base}_{n}"
        self._ids[name] = ident
        self.nodes[ident] = label
        return ident

    def edge(self, edge: Edge) -> None:
        if edge not in self._seen:  # a set: a list's `in` made 4,000 nodes take 18 s
            self._seen.add(edge)
            self.edges.append(edge)


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def graph(plan: Plan) -> Graph:
    """The plan's TLS connections and signatures as a graph."""
    g = Graph()
    by_name = {c.name: c for c in plan.certs}
    by_base = {_base(c.cert_file): c for c in plan.certs}
    holder: dict[str, str] = {}  # cert step name -> node id of the program holding it
    programs: dict[str, list[str]] = {}  # program -> node ids
    item_holder: dict[str, str] = {}  # a for_each item (node01) -> its program's node

    def item_of(specs: list[CertSpec]) -> str:
        return next((s.for_each[1] for s in specs if s.for_each), "")

    # programs configured by component files, and the certificates each one serves or uses
    for comp in plan.components:
        named = _named_certs(comp, by_base)
        item = item_of(named)
        serving = [
            by_base[_base(v)] for k, v in comp.flags if k in SERVING_FLAGS and _base(v) in by_base
        ] + [
            by_base[_base(str(comp.data.get(f)))]
            for f in SERVING_FIELDS
            if isinstance(comp.data, dict) and _base(str(comp.data.get(f, ""))) in by_base
        ]
        if not comp.program or not (serving or named):
            continue
        name = f"{comp.program} {item}".strip()
        shown = (name, f"serves {', '.join(s.cert_file for s in serving)}") if serving else (name,)
        ident = g.node(name, *shown)
        programs.setdefault(comp.program, []).append(ident)
        if item:
            item_holder.setdefault(item, ident)
        for spec in named:
            holder.setdefault(spec.name, ident)
    # kubeconfigs: the user's program presents the client certificate to the server
    for kc in plan.kubeconfigs:
        client = by_name.get(kc.client)
        item = item_of([client]) if client else ""
        src = item_holder.get(item) or g.node(kc.file, kc.file.rsplit(".", 1)[0])
        if client is not None:
            holder.setdefault(client.name, src)
        served = by_name.get(kc.served_by)
        if served is None:
            continue
        dst = holder.get(served.name) or g.node(
            served.name, served.name, f"serves {served.cert_file}"
        )
        holder.setdefault(served.name, dst)
        g.edge(Edge(src, dst, f"{kc.cert_file} ({kc.file})", "tls"))
    # client certificates named in flags files: kube-apiserver -> etcd, -> each kubelet
    for comp in plan.components:
        for flag, value in comp.flags:
            target = CLIENT_FLAGS.get(flag)
            spec = by_base.get(_base(value))
            if target is None or spec is None or spec.name not in holder:
                continue
            for dst in programs.get(target, []):
                g.edge(Edge(holder[spec.name], dst, spec.cert_file, "tls"))
    members = programs.get("etcd", [])
    for i, one in enumerate(members):
        for other in members[i + 1 :]:
            g.edge(Edge(one, other, "peer certificates", "peer"))
    # each CA and what it signs (the program holding each certificate, or the file itself)
    signed: dict[str, list[CertSpec]] = {}
    for leaf in plan.certs:
        if leaf.ca is not None and leaf.ca != leaf.name:
            signed.setdefault(leaf.ca, []).append(leaf)
    for spec in plan.certs:
        if not spec.is_ca:
            continue
        ca = g.node(f"ca {spec.name}", f"CA {spec.name}", spec.cert_file)
        g.cas.append(ca)
        for leaf in signed.get(spec.name, ()):
            if leaf.is_ca:
                sub = g.node(f"ca {leaf.name}", f"CA {leaf.name}", leaf.cert_file)
                g.edge(Edge(ca, sub, leaf.cert_file, "signs"))
                continue
            dst = holder.get(leaf.name) or g.node(leaf.name, leaf.cert_file)
            g.edge(Edge(ca, dst, leaf.cert_file, "signs"))
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


def _merge_labels(g: Graph, kind: str) -> list[tuple[str, str, str]]:
    """Edges of one kind between the same two nodes, their labels joined."""
    merged: dict[tuple[str, str], list[str]] = {}
    for e in g.edges:
        if e.kind == kind:
            merged.setdefault((e.src, e.dst), []).append(e.label)
    return [(s, d, ", ".join(labels)) for (s, d), labels in merged.items()]


def mermaid_text(text: str) -> str:
    """Text inside a Mermaid label's quotes: every character that is not a letter, digit or
    plain punctuation as an entity code (#34; for a quote), so a label can neither end its
    quotes nor be read as markup."""
    return "".join(c if _SAFE.fullmatch(c) else f"#{ord(c)};" for c in text)


def dot_text(text: str) -> str:
    """Text inside a dot string: backslash and quote escaped (a backslash would otherwise
    escape the closing quote)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


_SAFE = re.compile(r"[A-Za-z0-9 ._:/,()@+=-]")
_DOT_WORDS = frozenset(("node", "edge", "graph", "digraph", "subgraph", "strict"))


def mermaid(plan: Plan) -> str:
    """A Mermaid flowchart: solid arrows are TLS connections (client -> server, labelled with
    the client's certificate), dotted arrows a CA's signatures."""
    g = graph(plan)
    out = ["flowchart LR"]
    for ident, label in g.nodes.items():
        shape = ('[["', '"]]') if ident in g.cas else ('["', '"]')
        text = "<br/>".join(mermaid_text(line) for line in label)
        out.append(f"  {ident}{shape[0]}{text}{shape[1]}")
    for src, dst, label in _merge_labels(g, "tls"):
        out.append(f'  {src} -->|"{mermaid_text(label)}"| {dst}')
    for src, dst, label in _merge_labels(g, "peer"):
        out.append(f'  {src} <-->|"{mermaid_text(label)}"| {dst}')
    for src, dst, label in _merge_labels(g, "signs"):
        out.append(f'  {src} -.->|"{mermaid_text("signs " + label)}"| {dst}')
    return "\n".join(out) + "\n"


def dot(plan: Plan) -> str:
    """The same graph for Graphviz (`dot -Tsvg`); every id and label a quoted string."""
    g = graph(plan)

    def quote(*lines: str) -> str:
        return '"' + "\\n".join(dot_text(line) for line in lines) + '"'

    def ident(name: str) -> str:  # bare when dot reads it as a name, else quoted
        bare = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.lower() not in _DOT_WORDS
        return name if bare else quote(name)

    out = ["digraph pki {", "  rankdir=LR;", "  node [shape=box];"]
    for node, label in g.nodes.items():
        shape = " shape=box3d" if node in g.cas else ""
        out.append(f"  {ident(node)} [label={quote(*label)}{shape}];")
    for src, dst, label in _merge_labels(g, "tls"):
        out.append(f"  {ident(src)} -> {ident(dst)} [label={quote(label)}];")
    for src, dst, label in _merge_labels(g, "peer"):
        out.append(f"  {ident(src)} -> {ident(dst)} [label={quote(label)} dir=both];")
    for src, dst, label in _merge_labels(g, "signs"):
        signs = quote("signs " + label)
        out.append(f"  {ident(src)} -> {ident(dst)} [label={signs} style=dotted];")
    out.append("}")
    return "\n".join(out) + "\n"
