"""The pure parts of the checks, on text openssl 3.0 (and 3.5) printed (captured from real runs)."""

from __future__ import annotations

from kpki_openssl.checks import expected
from kpki_openssl.checks.verify import parse_verify
from tests import openssl_text

X509_OUTPUT = """subject=/CN=etcdserver/O=system:etcdserver
issuer=/CN=KUBERNETES-CA
serial=02748EBE106DC31AFB9DC068F5F543409DB7F039
notBefore=Nov 28 21:32:27 2026 GMT
notAfter=Dec  1 21:32:27 2027 GMT
sha256 Fingerprint=3B:C8:59:AB
X509v3 Basic Constraints: critical
    CA:FALSE
X509v3 Key Usage: critical
    Digital Signature, Key Encipherment
X509v3 Extended Key Usage: 
    TLS Web Server Authentication, TLS Web Client Authentication
X509v3 Subject Alternative Name: 
    DNS:etcdserver, DNS:localhost, IP Address:127.0.0.1, IP Address:FD00:0:0:0:0:0:0:5
        Subject Public Key Info:
            Public Key Algorithm: rsaEncryption
                Public-Key: (2048 bit)
                Modulus:
                    00:c4:36:08:04:6b:c4:88:ba:17:fb:b8:d1:e1:70:
                Exponent: 65537 (0x10001)
-----BEGIN PUBLIC KEY-----
MIIBIjANBg
-----END PUBLIC KEY-----
"""  # noqa: W291 - openssl prints the trailing spaces


def test_parse_x509_output() -> None:
    info = openssl_text.parse(X509_OUTPUT)
    assert info.subject == "/CN=etcdserver/O=system:etcdserver"
    assert info.common_name == "etcdserver" and not info.self_signed
    assert info.not_after is not None and (info.not_after.month, info.not_after.day) == (12, 1)
    assert info.is_ca is False
    assert info.key_usage == ("digitalSignature", "keyEncipherment")
    assert info.extended_key_usage == ("serverAuth", "clientAuth")
    assert info.sans.dns == ("etcdserver", "localhost")
    assert info.sans.ips == ("127.0.0.1", "fd00::5")  # canonical form, as the recipe writes it
    assert (info.key_type, info.key_bits) == ("RSA", 2048)
    assert info.public_key.startswith("-----BEGIN PUBLIC KEY-----\n")


def test_parse_v1_certificate_has_no_extensions() -> None:
    info = openssl_text.parse("subject=/CN=a\nissuer=/CN=a\nnotAfter=Dec 28 21:32:35 2026 GMT\n")
    assert info.self_signed and not info.has_extensions and info.is_ca is None


def test_parse_verify_stderr_assigns_reasons_to_files() -> None:
    stderr = (
        "CN = kube-scheduler\nerror 18 at 0 depth lookup: self-signed certificate\n"
        "CN = kube-scheduler\nerror 79 at 0 depth lookup: invalid CA certificate\n"
        "error v1.crt: verification failed\n"
        "CN = kube-admin\nerror 79 at 1 depth lookup: invalid CA certificate\n"
        "error leaf.crt: verification failed\n"
    )
    assert parse_verify(stderr) == {
        "v1.crt": ["self-signed certificate", "invalid CA certificate"],
        "leaf.crt": ["invalid CA certificate"],
    }
    # OpenSSL 3.5.9 prints the DN line without spaces (CN=ca): the reasons are read the same
    stderr_35 = "CN=ca\nerror 79 at 1 depth lookup: invalid CA certificate\nerror l.crt: verification failed\n"
    assert parse_verify(stderr_35) == {"l.crt": ["invalid CA certificate"]}


DOCUMENT_CNF = """[req]
req_extensions = v3_req
distinguished_name = req_distinguished_name
[ v3_req ]
basicConstraints = CA:FALSE
keyUsage = nonRepudiation
subjectAltName = @alt_names
[alt_names]
DNS.1 = kubernetes
IP.1 = 10.96.0.1
"""


def test_cnf_sections_and_extensions() -> None:
    assert expected.missing_sections(DOCUMENT_CNF, None) == [
        ("[req] distinguished_name", "req_distinguished_name")
    ]
    assert expected.missing_sections(DOCUMENT_CNF, "v3_ca") == [
        ("[req] distinguished_name", "req_distinguished_name"),
        ("-extensions", "v3_ca"),
    ]
    ext = expected.section_extensions(DOCUMENT_CNF, "v3_req")
    assert ext.is_ca is False and ext.key_usage == ("nonRepudiation",)
    assert (ext.sans.dns, ext.sans.ips) == (("kubernetes",), ("10.96.0.1",))


def test_host_coverage() -> None:
    dns, ips = ("kubernetes", "*.example.org"), ("10.96.0.1", "fd00::1")
    assert expected.host_covered("kubernetes", dns, ips)
    assert expected.host_covered("KUBERNETES", dns, ips)
    assert expected.host_covered("api.example.org", dns, ips)
    assert not expected.host_covered("a.b.example.org", dns, ips)
    assert expected.host_covered("10.96.0.1", dns, ips)
    assert expected.host_covered("fd00:0::1", dns, ips)
    assert not expected.host_covered("kube-apiserver", dns, ips)
    assert not expected.host_covered("10.96.0.2", dns, ("kubernetes",))
    assert expected.url_host("https://[fd00::1]:6443") == "fd00::1"
