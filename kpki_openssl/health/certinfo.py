"""One certificate (or CSR) as openssl prints it, parsed into plain data.

The text comes from `openssl x509`/`openssl req` (see openssl_argv.x509_read_argv); this module
only parses it, so it is pure and testable without openssl. Names of usages are turned back into
the recipe's words (digitalSignature, serverAuth, ...) so checks can compare like with like.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kpki_openssl import openssl_argv
from kpki_openssl.errors import KpkiError

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


@dataclass(frozen=True)
class CertInfo:
    """What the checks need from one certificate or CSR."""

    kind: str  # "certificate" or "csr"
    subject: str  # -nameopt compat: /CN=kube-admin/O=system:masters (the -subj form)
    issuer: str = ""
    serial: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    fingerprint: str = ""  # SHA-256, colon-separated hex
    has_extensions: bool = False
    is_ca: bool | None = None  # None: no basicConstraints at all
    key_usage: tuple[str, ...] = ()
    extended_key_usage: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    key_type: str = ""
    key_bits: int = 0
    public_key: str = ""  # PEM, to compare with `openssl pkey -pubout`

    @property
    def common_name(self) -> str:
        return next((v for a, v in subject_pairs(self.subject) if a == "CN"), "")

    @property
    def self_signed(self) -> bool:
        return self.kind == "certificate" and self.issuer == self.subject

    def days_left(self, now: datetime) -> float:
        if self.not_after is None:
            return 0.0
        return (self.not_after - now).total_seconds() / 86400


def subject_pairs(subject: str) -> list[tuple[str, str]]:
    """'/CN=a/O=b' -> [('CN', 'a'), ('O', 'b')]."""
    pairs = []
    for part in subject.split("/"):
        attr, sep, value = part.partition("=")
        if sep:
            pairs.append((attr.strip(), value))
    return pairs


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
        dns=dns,
        ips=ips,
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


def read(path: Path | str, cwd: Path | None = None, pem: str | None = None) -> CertInfo:
    """One certificate, by file or from PEM text (a kubeconfig's *-data), read by openssl."""
    from kpki_openssl.runner import capture

    argv = openssl_argv.x509_read_argv(None if pem is not None else str(path))
    done = capture(argv, cwd=cwd, stdin=pem)
    if done.retcode != 0:
        raise KpkiError(f"{path}: not a PEM certificate openssl can read")
    return parse(done.stdout)


def read_csr(path: Path | str, cwd: Path | None = None) -> CertInfo:
    from kpki_openssl.runner import capture

    done = capture(openssl_argv.req_read_argv(str(path)), cwd=cwd)
    if done.retcode != 0:
        raise KpkiError(f"{path}: not a PEM certificate request openssl can read")
    return parse(done.stdout, kind="csr")


def public_key_of(
    key_path: Path | str | None, cwd: Path | None = None, pem: str | None = None
) -> str | None:
    """The PEM public key of a private key file (or PEM text), or None when unreadable."""
    from kpki_openssl.runner import capture

    done = capture(openssl_argv.pubkey_argv(None if pem is not None else str(key_path)), cwd, pem)
    if done.retcode != 0:
        return None
    match = _PEM_KEY.search(done.stdout)
    return match.group(0).strip() + "\n" if match else None
