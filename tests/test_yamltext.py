"""yamltext.dump, the one YAML writer: every scalar reads back as the same value, in PyYAML and
in kubectl (Go's YAML 1.1, where y, n, 0o17 and 1e3 are not text); and where it writes a string
plain, pyyaml would too, so the plan's documents are the text safe_dump gives."""

from __future__ import annotations

import gc
import json
import subprocess
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kpki_openssl.base import yamltext
from tests.conftest import need_program, run_cli

# Text that looks like YAML syntax or another type, in either YAML library.
HOSTILE = [
    "fd00::", "a:", "x::", "::1", "a: b", "a:b", "y", "Y", "n", "N", "yes", "No", "on", "OFF",
    "true", "False", "null", "Null", "~", "", " ", " lead", "trail ", "#", "a #b", "#a", "- a",
    "-", "--", "---", "...", "? x", "?", ":", "[x]", "{x}", "*a", "&a", "!a", "!!str", "|", ">",
    "%x", "@x", "`x`", "'q'", '"q"', "a'b", 'a"b', "\\", "a\\nb", ",", "<<", "=", "0", "007",
    "6443", "1e3", "1E-3", ".5", "+1", "-1", "0x1F", "0o17", "0b101", "1_000", "1:20", "1.5",
    ".inf", "-.Inf", ".NaN", "2024-01-01", "2024-1-2", "2001-12-14t21:59:43.10-05:00",
    "10.96.0.10", "fd00::10", "system:node:n1", "https://h:6443", "é", "日本", "\U0001f600",
    "\u00a0", "\t", "a\tb", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\ufffe", "\x00",
    "\x1b[31m", "x" * 1100,
]  # fmt: skip

SCALARS = st.one_of(
    st.sampled_from(HOSTILE), st.text(max_size=12), st.booleans(), st.integers(), st.none()
)
KEYS = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8))
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(DATA)
def test_every_value_reads_back_the_same_in_pyyaml(data) -> None:
    assert yaml.safe_load(yamltext.dump(data)) == data


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


PLAIN_WORDS = st.from_regex(r"\A[A-Za-z0-9/_][A-Za-z0-9_./:=@+-]{0,20}\Z")
PLAIN_DATA = st.recursive(
    st.one_of(PLAIN_WORDS, st.booleans(), st.integers(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(PLAIN_WORDS, inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(PLAIN_WORDS, PLAIN_DATA, min_size=1, max_size=6))
def test_where_it_writes_plain_the_text_is_pyyamls(data: dict) -> None:
    if all(yamltext.scalar(s) == s for s in _strings(data)):
        assert yamltext.dump(data) == yaml.safe_dump(
            data, sort_keys=False, default_flow_style=False
        )


def test_a_kubeconfig_shape_is_pyyamls_text() -> None:
    doc = {
        "apiVersion": "v1",
        "clusters": [{"name": "local", "cluster": {"server": "https://kube-apiserver:6443"}}],
        "preferences": {},
        "clusterDNS": ["10.96.0.10"],
        "enabled": False,
    }
    assert yamltext.dump(doc) == yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def test_kubectl_reads_back_every_hostile_name_and_argument(tmp_path: Path) -> None:
    """kubectl (sigs.k8s.io/yaml over go-yaml v2) loads a kubeconfig whose names, server and
    exec arguments are the hostile strings, and shows each unchanged."""
    kubectl = need_program("kubectl")
    printable = [v for v in HOSTILE if v and v.isprintable() and len(v) < 200]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": v, "cluster": {"server": f"https://h{i}:6443"}}
            for i, v in enumerate(printable)
        ],
        "users": [
            {
                "name": v,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": "true",
                        "args": printable,
                        "interactiveMode": "Never",
                    }
                },
            }
            for v in printable[:3]
        ],
        "contexts": [{"name": v, "context": {"cluster": v, "user": v}} for v in printable],
        "current-context": printable[0],
        "preferences": {},
    }
    path = tmp_path / "hostile.kubeconfig"
    path.write_text(yamltext.dump(doc))
    done = subprocess.run(
        [kubectl, "config", "view", "--kubeconfig", str(path), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert {c["name"] for c in seen["clusters"]} == set(printable)
    assert {c["name"]: c["context"]["cluster"] for c in seen["contexts"]} == {
        v: v for v in printable
    }
    assert seen["current-context"] == printable[0]
    assert seen["users"][0]["user"]["exec"]["args"] == printable


def test_an_ipv6_cluster_dns_reads_back_as_a_list_of_the_address() -> None:
    """`--set cluster_dns=fd00::` used to give `- fd00::`, which reads back as a mapping."""
    done = run_cli(
        "run", "all", "--dry-run", "--set", "cluster_dns=fd00::",
        "--set", "service_cidr=fd00::/108", "--set", "apiserver_ips=fd00::1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from kpki_openssl.cli.common import load_plan
    from kpki_openssl.plan.steps import WriteFile

    class Args:
        recipe = "kubernetes"
        sets = ["cluster_dns=fd00::", "service_cidr=fd00::/108", "apiserver_ips=fd00::1"]

    plan = load_plan(Args())  # type: ignore[arg-type]
    gc.unfreeze()  # load_plan freezes what it built; these tests build many plans
    configs = [
        a.content
        for s in plan.steps
        for a in s.actions
        if isinstance(a, WriteFile) and "KubeletConfiguration" in a.content
    ]
    assert configs
    for text in configs:
        assert yaml.safe_load(text)["clusterDNS"] == ["fd00::"]
        assert '- "fd00::"' in done.stdout
