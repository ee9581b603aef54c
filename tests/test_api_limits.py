"""Values the Kubernetes API or kube-apiserver would refuse are refused here first: a Service
range outside 8 to 2^20 addresses (whose 'first address' could fall outside it), a CSR's
expirationSeconds outside the API's int32 from 600; and a node named like an IP address gets
an IP SAN, never a DNS SAN holding the address."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.steps import build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.conftest import need_program, run_cli
from tests.oracle import load_cert, sans

RECIPE = load_recipe("kubernetes")


def service_sets(cidr: str) -> list[str]:
    """--set values that fit `cidr`: the API server's first address and a DNS address in it."""
    network = ipaddress.ip_network(cidr)
    last = network.num_addresses - 1  # a /31 or /32 near the top has no room for +1 and +2
    return [
        f"service_cidr={cidr}",
        f"apiserver_ips={network.network_address + min(1, last)}",
        f"cluster_dns={network.network_address + min(2, last)}",
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.ip_addresses(v=4).map(lambda a: (a, 32)), st.ip_addresses(v=6).map(lambda a: (a, 128))
    ).flatmap(lambda t: st.integers(0, t[1]).map(lambda p: (t[0], p)))
)
def test_a_service_range_is_taken_exactly_when_kube_apiserver_takes_it(address) -> None:
    """kube-apiserver: at most 2^20 addresses (validateMaxCIDRRange), at least 8
    (ServiceIPRange); its first address is then always inside it."""
    ip, prefix = address
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    cidr = str(network)
    host_bits = network.max_prefixlen - prefix
    try:
        values = resolve_variables(RECIPE, service_sets(cidr))
    except InputError as exc:
        assert not 3 <= host_bits <= 20, (cidr, str(exc))
        assert str(exc).startswith("service_cidr: ") and repr(cidr) in str(exc), exc
        return
    assert 3 <= host_bits <= 20, cidr
    assert ipaddress.ip_address(values["apiserver_ips"][0]) in network


@pytest.mark.parametrize(
    "cidr", ["10.0.0.0/8", "10.96.0.0/11", "10.0.0.0/32", "10.96.0.0/30", "fd00::/64",
             "fd00::/107", "fd00::/126", "0.0.0.0/0"],
)  # fmt: skip
def test_a_service_range_kube_apiserver_refuses_is_one_line_and_writes_nothing(
    tmp_path: Path, cidr: str
) -> None:
    out = tmp_path / "pki"
    args = [a for s in service_sets(cidr) for a in ("--set", s)]
    done = run_cli("run", "all", "--out", str(out), *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"service_cidr: {cidr!r}" in done.stderr
    assert not out.exists()


def test_a_node_named_like_an_ip_address_gets_an_ip_san_not_a_dns_san(tmp_path: Path) -> None:
    """The bundled recipe puts {node} in the kubelet serving certificate's DNS SANs; for a
    node named 10.0.0.5 that address is an IP SAN (a client dialing it compares IP SANs only).
    Read back from the certificate openssl made."""
    need_program("openssl")
    out = tmp_path / "pki"
    sets = ["--set", "nodes=10.0.0.5", "--set", "key_type=ecdsa"]
    done = run_cli("run", "ca", "kubelet-10.0.0.5", "--quiet", "--out", str(out), *sets)
    assert done.returncode == 0, done.stderr
    dns, ips = sans(load_cert(out / "kubelet-10.0.0.5.crt"))
    assert "10.0.0.5" not in dns and dns == [] and ips == ["10.0.0.5"]
    done = run_cli("verify", "--out", str(out), "--quiet", *sets)
    assert "kubelet-10.0.0.5.crt: subjectAltName" not in done.stdout, done.stdout


def test_a_dns_san_that_is_an_ip_joins_the_ip_sans_once() -> None:
    plan = build_plan(
        RECIPE, resolve_variables(RECIPE, ["nodes=10.0.0.5", "node_ips=10.0.0.5=10.0.0.5"])
    )
    spec = next(c for c in plan.certs if c.name == "kubelet-10.0.0.5")
    assert spec.sans.dns == () and spec.sans.ips == ("10.0.0.5",)


@pytest.mark.parametrize(("days", "ok"), [(24855, True), (24856, False), (100000, False)])
def test_expiration_seconds_stays_in_the_apis_range(built_pki: Path, days: int, ok: bool) -> None:
    """expirationSeconds is an int32 of at least 600 (certificates.k8s.io/v1): -days past
    24,855 cannot be asked for; csr and the node script refuse it in one line."""
    import yaml

    done = run_cli("csr", "kube-proxy", "--out", str(built_pki), "--set", f"days={days}")
    node = run_cli("export", "--node", "node01", "--set", f"days={days}")
    if ok:
        assert done.returncode == 0, done.stderr
        seconds = yaml.safe_load(done.stdout)["spec"]["expirationSeconds"]
        assert 600 <= seconds <= 2**31 - 1 and seconds == days * 86400
        assert node.returncode == 0, node.stderr
        return
    for refused in (done, node):
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"-days {days}" in refused.stderr and "expirationSeconds" in refused.stderr
