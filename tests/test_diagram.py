"""`diagram`: two pictures of the plan. Trust: each CA -> the certificates it signs.
Connections: each TLS connection as client -> server, labelled with the file the client
presents. Checked against the recipe's own tables; drawn with Graphviz, where no two labels
overlap and neither picture is more than 1.6 times wider than tall."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from kpki_openssl.cli import main as cli_main
from kpki_openssl.plan.steps import build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from kpki_openssl.teach import diagram
from tests.conftest import need_program

EDGE = re.compile(r'^  (\w+) (-->|<-->|-\.->)(?:\|"([^"]*)"\|)? (\w+)$')
NODE = re.compile(r'^  (\w+)(\["|\[\[")(.*?)("\]|"\]\])$')


def plan_of(name: str, *sets: str):
    recipe = load_recipe(name)
    return build_plan(recipe, resolve_variables(recipe, list(sets)))


def parse(text: str):
    """One Mermaid flowchart: its nodes (id -> label) and edges (src, arrow, label, dst)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("%%")]
    assert lines[0] in ("flowchart LR", "flowchart TB"), lines[0]
    nodes = {m.group(1): m.group(3) for ln in lines if (m := NODE.match(ln))}
    edges = [(m[1], m[2], m[3] or "", m[4]) for ln in lines if (m := EDGE.match(ln))]
    assert len(nodes) + len(edges) == len(lines) - 1, [
        ln for ln in lines[1:] if not (NODE.fullmatch(ln) or EDGE.fullmatch(ln))
    ]
    for src, _arrow, _label, dst in edges:
        assert src in nodes and dst in nodes, (src, dst)
    return nodes, edges


def pictures(text: str) -> dict[str, tuple[dict, list]]:
    """`diagram`'s Mermaid output: each picture after its `%% NAME: title` line."""
    parts = re.split(r"^%% (trust|connections): .*\n", text, flags=re.M)
    return {parts[i]: parse(parts[i + 1]) for i in range(1, len(parts), 2)}


def test_two_pictures_of_the_bundled_recipe(capsys) -> None:
    plan = plan_of("kubernetes")
    assert cli_main(["diagram"]) == 0
    text = capsys.readouterr().out
    assert text == diagram.mermaid(plan)
    drawn = pictures(text)
    assert list(drawn) == ["trust", "connections"]
    # connections: every kubeconfig's client certificate -> the API server, who presents what
    nodes, edges = drawn["connections"]
    tls = [(nodes[s], label, nodes[d]) for s, arrow, label, d in edges if arrow == "-->"]
    api = "kube-apiserver<br/>presents apiserver.crt"
    for kc in plan.kubeconfigs:
        file = re.sub(r"node0\d", "NODE", kc.cert_file)
        assert any(lab.startswith(f"{file}<br/>") and dst == api for _s, lab, dst in tls), kc.file
    kubelet = "kubelet ×3<br/>presents kubelet-NODE.crt"
    assert (api, "apiserver-kubelet-client.crt", kubelet) in tls
    assert (api, "apiserver-etcd-client.crt", "etcd etcdpeer1<br/>presents etcdserver.crt") in tls
    aggregated = [dst for _s, lab, dst in tls if lab == "front-proxy-client.crt"]
    assert aggregated and aggregated[0].startswith("aggregated API server")  # its consumer
    assert "trusts front-proxy-ca.crt" in aggregated[0]
    # trust: every certificate a CA signs, once per row ("×3" for the per-node rows)
    nodes, edges = drawn["trust"]
    signed = sorted(nodes[d].split("<br/>")[0] for _s, arrow, _l, d in edges if arrow == "-.->")
    files = {re.sub(r"node0\d", "NODE", c.cert_file) for c in plan.certs if c.ca and c.ca != c.name}
    assert sorted(f.split(" ×")[0] for f in signed) == sorted(files)
    assert "kubelet-NODE.crt ×3" in signed and "kubelet-client-NODE.crt ×3" in signed
    assert "admin.crt<br/>client<br/>CN=kube-admin<br/>O=system:masters" in nodes.values()


def test_per_node_and_etcd_peers_and_kubeadms_three_cas() -> None:
    nodes, edges = pictures(diagram.mermaid(plan_of("kubernetes"), per_node=True))["connections"]
    for node in ("node01", "node02", "node03"):
        assert f"kubelet {node}<br/>presents kubelet-{node}.crt" in nodes.values()
    nodes, edges = pictures(diagram.mermaid(plan_of("kubernetes", "etcd_peers=p1,p2")))[
        "connections"
    ]
    assert [(nodes[s], nodes[d]) for s, arrow, _l, d in edges if arrow == "<-->"] == [
        ("etcd ×2<br/>presents etcdserver.crt",) * 2
    ]
    nodes, _edges = pictures(diagram.mermaid(plan_of("kubeadm"), "trust"))["trust"]
    cas = sorted(label for label in nodes.values() if label.startswith("CA "))
    assert cas == ["CA ca<br/>pki/ca.crt", "CA etcd-ca<br/>pki/etcd/ca.crt",
                   "CA front-proxy-ca<br/>pki/front-proxy-ca.crt"]  # fmt: skip


def test_dot_has_the_same_edges(capsys) -> None:
    assert cli_main(["diagram", "--format", "dot"]) == 0
    text = capsys.readouterr().out
    assert text.count("digraph ") == 2 and text.endswith("}\n")
    drawn = pictures(diagram.mermaid(plan_of("kubernetes")))
    visible = [ln for ln in text.splitlines() if re.match(r"  n_\w+ -> ", ln) and "invis" not in ln]
    assert len(visible) == sum(len(edges) for _nodes, edges in drawn.values())


def _boxes(layout: dict) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every label graphviz placed (the title, each node's box, each edge label's lines) as
    (owner, (x0, y0, x1, y1)) in points, from `dot -Tjson`."""
    out = []

    def text(owner: str, ops: list) -> None:
        size = 14.0
        for op in ops:
            if op["op"] == "F":
                size = op["size"]
            elif op["op"] == "T":
                (x, y), w = op["pt"], op["width"]
                x0 = {"l": x, "r": x - w}.get(op["align"], x - w / 2)
                out.append((owner, (x0, y - 0.25 * size, x0 + w, y + 0.75 * size)))

    text("title", layout.get("_ldraw_", []))
    for obj in layout.get("objects", []):
        if "pos" not in obj:
            continue
        x, y = map(float, obj["pos"].split(","))
        w, h = float(obj["width"]) * 72, float(obj["height"]) * 72
        out.append((obj["name"], (x - w / 2, y - h / 2, x + w / 2, y + h / 2)))
    for number, edge in enumerate(layout.get("edges", [])):
        text(f"edge {number}", edge.get("_ldraw_", []))
    return out


def overlaps(layout: dict) -> list[tuple[str, str]]:
    boxes = _boxes(layout)
    found = []
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(boxes):
        for b, (bx0, by0, bx1, by1) in boxes[i + 1 :]:
            if a == b:
                continue
            if min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > 0.5:
                found.append((a, b))
    return found


@pytest.mark.parametrize("picture", diagram.PICTURES)
def test_graphviz_draws_each_picture_readably(picture: str, tmp_path: Path) -> None:
    """dot lays the picture out: no two labels (the title, a node, an edge's label) overlap,
    the picture is at most 1.6 times wider than tall, and a label line never breaks a name."""
    dot = need_program("dot")
    source = diagram.dot(plan_of("kubernetes"), picture)
    (tmp_path / "p.dot").write_text(source)
    done = subprocess.run([dot, "-Tjson", "p.dot"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    layout = json.loads(done.stdout)
    assert not overlaps(layout)
    x0, y0, x1, y1 = map(float, layout["bb"].split(","))
    assert (x1 - x0) <= 1.6 * (y1 - y0), layout["bb"]
    lines = [op["text"] for obj in [layout, *layout["objects"], *layout.get("edges", [])]
             for op in obj.get("_ldraw_", []) if op["op"] == "T"]  # fmt: skip
    plan = plan_of("kubernetes")
    named = (
        [c.cert_file for c in plan.certs]
        if picture == "trust"
        else [k.cert_file for k in plan.kubeconfigs] + ["apiserver-etcd-client.crt"]
    )
    for file in named:  # every file whole on one line of a label
        file = re.sub(r"node0\d", "NODE", file)
        assert any(re.search(rf"(^|[ (]){re.escape(file)}($|[ )])", ln) for ln in lines), file
    assert all(not line.endswith("-") for line in lines), lines


def test_the_overlap_check_sees_an_overlap() -> None:
    """The check itself: two labels at one place are found."""
    layout = {
        "objects": [{"name": "a", "pos": "10,10", "width": "1", "height": "0.5"}],
        "edges": [
            {"_ldraw_": [{"op": "F", "size": 10}, {"op": "T", "pt": [10, 10], "align": "c",
                                                    "width": 20, "text": "x"}]}
        ],
    }  # fmt: skip
    assert overlaps(layout) == [("a", "edge 0")]


# ----- recipe text cannot add nodes or edges; the time is linear in nodes -----

HOSTILE_PROGRAMS = [
    'etcd"] --> evil["x',  # ends the label, adds an edge and a node
    "etcd|> x",
    "end",  # a Mermaid keyword
    "node",  # a dot keyword
    "a\\",  # a backslash that would escape dot's closing quote
    'a\\" -> b [label="x',
    "#quot; <b>bold</b> &amp; `code`",
    "kube apiserver",  # two names, one id ...
    "kube_apiserver",  # ... kept apart
]


def hostile_plan(program: str):
    from kpki_openssl.recipe.load import parse_recipe

    path = load_recipe("kubernetes").path
    text = Path(path).read_text().replace("program: etcd\n", f"program: {json.dumps(program)}\n")
    recipe = parse_recipe(text, "hostile.yaml")
    return build_plan(recipe, resolve_variables(recipe, []))


def dot_objects(text: str) -> tuple[int, int, list[str]]:
    """Graphviz's own reading of a dot picture: how many nodes and edges, and the labels."""
    dot = need_program("dot")
    done = subprocess.run([dot, "-Tjson0"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    graph = json.loads(done.stdout)
    labels = [o.get("label", "") for o in graph.get("objects", [])]
    return len(graph.get("objects", [])), len(graph.get("edges", [])), labels


@pytest.mark.parametrize("program", HOSTILE_PROGRAMS)
def test_a_program_name_cannot_add_nodes_or_edges(program: str) -> None:
    """The etcd rows' program renamed: the same nodes and edges as with a plain name, in
    Mermaid and in Graphviz's own reading of the dot text; the name shows in a label."""
    plain, hostile = hostile_plan("benign"), hostile_plan(program)
    want = {k: (len(n), len(e)) for k, (n, e) in pictures(diagram.mermaid(plain)).items()}
    got = {k: (len(n), len(e)) for k, (n, e) in pictures(diagram.mermaid(hostile)).items()}
    assert got == want
    labels = " ".join(
        n for nodes, _e in pictures(diagram.mermaid(hostile)).values() for n in nodes.values()
    )
    decoded = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), labels)
    assert program in decoded
    for picture in diagram.PICTURES:
        nodes, edges, _labels = dot_objects(diagram.dot(plain, picture))
        assert dot_objects(diagram.dot(hostile, picture))[:2] == (nodes, edges)


def test_node_ids_are_never_syntax() -> None:
    graph = diagram.Graph("g", "a picture")
    assert graph.node("end", ["x"]) == "n_end"
    assert graph.node("kube apiserver", ["a"]) == "n_kube_apiserver"
    assert graph.node("kube_apiserver", ["b"]) == "n_kube_apiserver_2"
    assert graph.node("é", ["c"]) == "n__"
