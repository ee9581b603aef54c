"""`diagram`: each TLS connection of the plan as client -> server, labelled with the file the
client presents; each CA -> what it signs. Checked against the recipe's own tables."""

from __future__ import annotations

import re

from kpki_openssl.cli import main as cli_main
from kpki_openssl.plan.steps import build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from kpki_openssl.teach import diagram

EDGE = re.compile(r'^  (\w+) (-->|<-->|-\.->)\|"([^"]*)"\| (\w+)$')
NODE = re.compile(r'^  (\w+)(\["|\[\[")(.*?)("\]|"\]\])$')


def plan_of(name: str, *sets: str):
    recipe = load_recipe(name)
    return build_plan(recipe, resolve_variables(recipe, list(sets)))


def parse(text: str):
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes = {m.group(1): m.group(3) for ln in lines if (m := NODE.match(ln))}
    edges = [m.groups() for ln in lines if (m := EDGE.match(ln))]
    assert len(nodes) + len(edges) == len(lines) - 1, [
        ln for ln in lines[1:] if not (NODE.match(ln) or EDGE.match(ln))
    ]
    for src, _arrow, _label, dst in edges:
        assert src in nodes and dst in nodes, (src, dst)
    return nodes, edges


def test_the_bundled_recipe_every_connection_and_signature(capsys) -> None:
    plan = plan_of("kubernetes")
    assert cli_main(["diagram"]) == 0
    text = capsys.readouterr().out
    assert text == diagram.mermaid(plan)
    nodes, edges = parse(text)
    tls = [(nodes[s], label, nodes[d]) for s, arrow, label, d in edges if arrow == "-->"]
    api = "kube-apiserver<br/>serves apiserver.crt"
    for kc in plan.kubeconfigs:  # every kubeconfig: its client certificate -> the API server
        assert any(lab == f"{kc.cert_file} ({kc.file})" and dst == api for _s, lab, dst in tls), (
            kc.file
        )
    assert ("kube-apiserver<br/>serves apiserver.crt", "apiserver-etcd-client.crt",
            "etcd etcdpeer1<br/>serves etcdserver.crt") in tls  # fmt: skip
    for node in ("node01", "node02", "node03"):
        assert (
            api,
            "apiserver-kubelet-client.crt",
            f"kubelet {node}<br/>serves kubelet-{node}.crt",
        ) in tls
    signed = [lab.removeprefix("signs ") for _s, arrow, lab, _d in edges if arrow == "-.->"]
    files = sorted(f for lab in signed for f in lab.split(", "))
    assert files == sorted(c.cert_file for c in plan.certs if c.ca and c.ca != c.name)


def test_etcd_members_are_peers_and_kubeadm_draws_its_three_cas() -> None:
    nodes, edges = parse(diagram.mermaid(plan_of("kubernetes", "etcd_peers=p1,p2")))
    assert [(nodes[s], nodes[d]) for s, arrow, _l, d in edges if arrow == "<-->"] == [
        ("etcd p1<br/>serves etcdserver.crt", "etcd p2<br/>serves etcdserver.crt")
    ]
    nodes, _edges = parse(diagram.mermaid(plan_of("kubeadm")))
    cas = sorted(label for label in nodes.values() if label.startswith("CA "))
    assert cas == ["CA ca<br/>pki/ca.crt", "CA etcd-ca<br/>pki/etcd/ca.crt",
                   "CA front-proxy-ca<br/>pki/front-proxy-ca.crt"]  # fmt: skip


def test_dot_has_the_same_edges(capsys) -> None:
    assert cli_main(["diagram", "--format", "dot"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("digraph pki {\n") and text.endswith("}\n")
    _nodes, edges = parse(diagram.mermaid(plan_of("kubernetes")))
    assert text.count(" -> ") == len(edges)
    assert '[label="signs admin.crt" style=dotted]' in text
