"""IPv6 addresses are accepted wherever the recipe takes IP addresses (check: ip) and reach the
certificate: read back with `cryptography`, checked by `openssl verify`."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from tests.conftest import need_program, run_cli
from tests.oracle import load_cert, openssl_verify


def test_ipv6_apiserver_addresses_reach_the_certificate(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    ips = "10.96.0.1,fd00::10,::1"
    argv = ["run", "ca", "apiserver", "--quiet", "--out", str(out)]
    done = run_cli(*argv, "--set", f"apiserver_ips={ips}", "--set", "key_type=ecdsa")
    assert done.returncode == 0, done.stderr
    cert = load_cert(out / "apiserver.crt")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.IPv4Address("10.96.0.1"),
        ipaddress.IPv6Address("fd00::10"),
        ipaddress.IPv6Address("::1"),
    ]
    assert openssl_verify(out / "ca.crt", out / "apiserver.crt").returncode == 0
