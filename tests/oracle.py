"""Independent checks of certificates: the cryptography library and `openssl verify`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def openssl_verify(ca: Path, cert: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-no-CApath",
            "-no-CAstore",
            "-CAfile",
            str(ca),
            str(cert),
        ],
        capture_output=True,
        text=True,
    )


def subject_pairs(cert: x509.Certificate) -> list[tuple[str, str]]:
    names = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O"}
    return [(names.get(a.oid, a.oid.dotted_string), a.value) for a in cert.subject]


def sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    ]


def eku(cert: x509.Certificate) -> set:
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def key_matches(cert: x509.Certificate, key_path: Path) -> bool:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return key.public_key().public_bytes(enc, fmt) == cert.public_key().public_bytes(enc, fmt)


def assert_is_ca(cert: x509.Certificate) -> None:
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign


def assert_is_leaf(cert: x509.Certificate, ca: x509.Certificate) -> None:
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    cert.verify_directly_issued_by(ca)  # raises if the CA did not sign it


def verifying_cas(folder: Path, cert: Path, cas: tuple[str, ...]) -> list[str]:
    """The CAs (NAME.crt in folder) that `openssl verify -x509_strict` accepts cert under."""
    return [ca for ca in cas if openssl_verify(folder / f"{ca}.crt", cert).returncode == 0]
