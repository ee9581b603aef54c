"""yamltext.dump writes what pyyaml's safe_dump writes, byte for byte, for any plain data."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kpki_openssl.base import yamltext

# Short words that are plain in YAML, words that are not (they read as other types or need
# quotes), and arbitrary text, so both the fast path and the fallback are exercised.
WORDS = st.sampled_from(
    ["v1", "Config", "ca.crt", "/var/lib/kubelet/kubelet-n1.crt", "https://kube:6443",
     "10.96.0.10", "15m", "system:node:n1", "yes", "no", "null", "~", "true", "1.5", "12:30",
     "0x1f", "-x", "a #b", "a: b", "", " lead", "x" * 90, "kubelet.config.k8s.io/v1beta1"]
)  # fmt: skip
SCALARS = st.one_of(WORDS, st.text(max_size=12), st.booleans(), st.integers(), st.none())
KEYS = st.one_of(WORDS, st.text(min_size=1, max_size=8))
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, DATA, min_size=1, max_size=6))
def test_same_text_as_pyyaml(data: dict) -> None:
    assert yamltext.dump(data) == yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def test_a_kubeconfig_shape_takes_the_fast_path() -> None:
    doc = {
        "apiVersion": "v1",
        "clusters": [{"name": "local", "cluster": {"server": "https://kube-apiserver:6443"}}],
        "preferences": {},
        "clusterDNS": ["10.96.0.10"],
        "enabled": False,
    }
    expected = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    assert yamltext.dump(doc) == expected
    lines: list[str] = []
    yamltext._mapping(doc, "", "", lines)  # raises if it had to fall back to pyyaml
    assert "\n".join(lines) + "\n" == expected
