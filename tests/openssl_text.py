"""openssl's text output read back into certinfo.CertInfo: the second reading that
tests/test_verify_verdicts.py compares with the in-process one. Test code only: the tool
itself never parses openssl's text."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone

from kpki_openssl.checks.certinfo import CertInfo
from kpki_openssl.recipe.sans import SubjectAltNames

OPENSSL = "openssl"

# One x509 call prints everything a check needs, in the order the flags are given.
_PUBKEY_ONLY = (
    "no_header,no_version,no_serial,no_signame,no_validity,no_subject,no_issuer,"
    "no_sigdump,no_aux,no_extensions"
)
READ_EXTENSIONS = "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName"


def x509_read_argv(path: str | None) -> tuple[str, ...]:
    """Every field a check needs from one certificate (stdin when path is None)."""
    source = ("-in", path) if path else ()
    return (
        OPENSSL, "x509", *source, "-noout", "-nameopt", "compat",
        "-subject", "-issuer", "-serial", "-dates", "-fingerprint", "-sha256",
        "-ext", READ_EXTENSIONS,
        "-certopt", _PUBKEY_ONLY, "-text",
        "-pubkey",
    )  # fmt: skip


KEY_USAGE_WORDS = {
    "Digital Signature": "digitalSignature",
    "Non Repudiation": "nonRepudiation",
    "Key Encipherment": "keyEncipherment",
    "Data Encipherment": "dataEncipherment",
    "Key Agreement": "keyAgreement",
    "Certificate Sign": "keyCertSign",
    "CRL Sign": "cRLSign",
}
EKU_WORDS = {
    "TLS Web Server Authentication": "serverAuth",
    "TLS Web Client Authentication": "clientAuth",
    "Code Signing": "codeSigning",
    "E-mail Protection": "emailProtection",
    "OCSP Signing": "OCSPSigning",
}
_EXT_HEADER = re.compile(r"^(\s*)X509v3 ([A-Za-z ]+):\s*(critical)?\s*$")
_KEY_BITS = re.compile(r"(?:Public-Key|RSA Public-Key): \((\d+) bit\)")
_KEY_ALGO = re.compile(r"Public Key Algorithm: (\S+)")
_PEM_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----\n?", re.S)
_KEY_TYPES = {"rsaEncryption": "RSA", "id-ecPublicKey": "EC", "ED25519": "Ed25519"}


def parse_date(text: str) -> datetime:
    """openssl's 'Nov 28 21:32:26 2027 GMT' as an aware UTC datetime."""
    return datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=timezone.utc
    )


def parse(text: str, kind: str = "certificate") -> CertInfo:
    """Parse the output of x509_read_argv / req_read_argv."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("subject", "issuer", "serial", "notBefore", "notAfter"):
            fields.setdefault(key, value.strip())
        elif line.startswith("sha256 Fingerprint=") or line.startswith("SHA256 Fingerprint="):
            fields["fingerprint"] = value.strip()
    exts = _extensions(text)
    is_ca = None
    if "Basic Constraints" in exts:
        is_ca = "CA:TRUE" in exts["Basic Constraints"]
    key_usage = _words(exts.get("Key Usage", ""), KEY_USAGE_WORDS)
    eku = _words(exts.get("Extended Key Usage", ""), EKU_WORDS)
    dns, ips = _sans(exts.get("Subject Alternative Name", ""))
    algo = _KEY_ALGO.search(text)
    bits = _KEY_BITS.search(text)
    pem = _PEM_KEY.search(text)
    return CertInfo(
        kind=kind,
        subject=fields.get("subject", ""),
        issuer=fields.get("issuer", ""),
        serial=fields.get("serial", ""),
        not_before=parse_date(fields["notBefore"]) if "notBefore" in fields else None,
        not_after=parse_date(fields["notAfter"]) if "notAfter" in fields else None,
        fingerprint=fields.get("fingerprint", ""),
        has_extensions=bool(exts),
        is_ca=is_ca,
        key_usage=key_usage,
        extended_key_usage=eku,
        sans=SubjectAltNames(dns, ips),
        key_type=_KEY_TYPES.get(algo.group(1), algo.group(1)) if algo else "",
        key_bits=int(bits.group(1)) if bits else 0,
        public_key=pem.group(0).strip() + "\n" if pem else "",
    )


def _extensions(text: str) -> dict[str, str]:
    """'X509v3 Name: [critical]' headers and their (more indented) value lines."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _EXT_HEADER.match(line)
        if not match:
            continue
        indent = len(match.group(1))
        values: list[str] = []
        value_indent = None
        for follow in lines[i + 1 :]:
            depth = len(follow) - len(follow.lstrip())
            if not follow.strip() or depth <= indent or depth != (value_indent or depth):
                break
            value_indent = depth
            values.append(follow.strip())
        out.setdefault(match.group(2).strip(), " ".join(values))
    return out


def _words(value: str, names: dict[str, str]) -> tuple[str, ...]:
    return tuple(names.get(w.strip(), w.strip()) for w in value.split(",") if w.strip())


def _sans(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    dns, ips = [], []
    for item in (x.strip() for x in value.split(",")):
        kind, _, name = item.partition(":")
        if kind == "DNS":
            dns.append(name)
        elif kind == "IP Address":
            try:
                ips.append(str(ipaddress.ip_address(name)))
            except ValueError:
                ips.append(name)
    return tuple(dns), tuple(ips)
