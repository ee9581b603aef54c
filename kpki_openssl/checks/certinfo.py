"""One certificate (or CSR) as plain data, read in-process with cryptography. Names of usages
are the recipe's words (digitalSignature, serverAuth, ...) and the subject is openssl's
`-nameopt compat` form, so checks compare like with like and every field matches what the
shown openssl command prints (tests/test_verify_verdicts.py reads every certificate of a PKI
with openssl too and requires the same fields).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.base.safefs import read_regular  # the one bounded reader of a folder's files
from kpki_openssl.plan.certlist import key_facts
from kpki_openssl.recipe.sans import SubjectAltNames


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
    sans: SubjectAltNames = SubjectAltNames()
    key_type: str = ""
    key_bits: int = 0
    key_curve: str = ""  # P-256, P-384 for EC keys (the recipe's ecdsa_curve words)
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


# ----- reading in-process, with cryptography -----
# The checks read every certificate and key here (a 1,000-node PKI is 2,000 certificates: one
# process each used to be most of verify's time). The openssl commands that show the same
# fields are still printed by --show-commands.

_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "domainComponent": "DC",
    "userId": "UID",
    "streetAddress": "street",
}
KEY_USAGE_ATTRS = (  # openssl's names for key usages, by cryptography's KeyUsage attribute
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
EKU_NAMES = {  # openssl's names for extended key usages, by OID
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
}
PEM_CERT = "-----BEGIN CERTIFICATE-----"


def name_text(name) -> str:
    """An x509.Name as `-nameopt compat` prints it: /CN=kube-admin/O=system:masters."""
    parts = []
    for rdn in name.rdns:
        attrs = [f"{_SHORT_NAMES.get(a.oid._name, a.oid._name)}={a.value}" for a in rdn]
        parts.append("+".join(attrs))
    return "".join(f"/{p}" for p in parts)


def _serial_text(serial: int) -> str:
    """As `openssl x509 -serial` prints it: upper-case hex, whole bytes."""
    sign, serial = ("-", -serial) if serial < 0 else ("", serial)
    digits = f"{serial:X}"
    return sign + ("0" * (len(digits) % 2)) + digits


def public_pem(key) -> str:
    """A public key as `openssl pkey -pubout` writes it (SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _extensions_of(obj) -> dict:
    from cryptography import x509

    try:
        return {type(e.value): e.value for e in obj.extensions}
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise KpkiError(f"an extension cannot be read: {exc}") from None


def info_of(obj, kind: str = "certificate") -> CertInfo:
    """CertInfo of a cryptography Certificate (or CertificateSigningRequest)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    exts = _extensions_of(obj)
    basic = exts.get(x509.BasicConstraints)
    usage = exts.get(x509.KeyUsage)
    key_usage: tuple[str, ...] = ()
    if usage is not None:
        key_usage = tuple(word for attr, word in KEY_USAGE_ATTRS if getattr(usage, attr))
        if usage.key_agreement:  # these two are defined only with keyAgreement
            key_usage += ("encipherOnly",) * usage.encipher_only
            key_usage += ("decipherOnly",) * usage.decipher_only
    eku = exts.get(x509.ExtendedKeyUsage)
    ekus = tuple(EKU_NAMES.get(o.dotted_string, o._name) for o in eku) if eku else ()
    sans = SubjectAltNames.from_x509(exts.get(x509.SubjectAlternativeName))
    try:
        key = obj.public_key()
    except (ValueError, TypeError) as exc:
        raise KpkiError(f"its public key cannot be read: {exc}") from None
    key_type, bits, curve = key_facts(key)
    wanted = (x509.BasicConstraints, x509.KeyUsage, x509.ExtendedKeyUsage)
    fields: dict = {}
    if kind == "certificate":
        fields = {
            "issuer": name_text(obj.issuer),
            "serial": _serial_text(obj.serial_number),
            "not_before": obj.not_valid_before_utc,
            "not_after": obj.not_valid_after_utc,
            "fingerprint": obj.fingerprint(hashes.SHA256()).hex(":").upper(),
        }
    return CertInfo(
        kind=kind,
        subject=name_text(obj.subject),
        has_extensions=any(t in exts for t in (*wanted, x509.SubjectAlternativeName)),
        is_ca=basic.ca if basic is not None else None,
        key_usage=key_usage,
        extended_key_usage=ekus,
        sans=sans,
        key_type=key_type,
        key_bits=bits,
        key_curve=curve,
        public_key=public_pem(key),
        **fields,
    )


def load_certs(data: bytes) -> list:
    """Every PEM certificate in `data`, in order (a ca.crt may hold more than one)."""
    from cryptography import x509

    if PEM_CERT.encode() not in data:
        raise KpkiError("no PEM certificate in it")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise KpkiError(f"not a PEM certificate: {exc}") from None


_BEGIN = re.compile(rb"-----BEGIN ([^\r\n]{0,64}?)-----")
_BLOCK = re.compile(rb"-----BEGIN ([^\r\n]{0,64}?)-----.*?-----END \1-----", re.DOTALL)


def sole_certificate_problem(data: bytes) -> str | None:
    """Why `data` is not exactly one PEM certificate as openssl writes it (what a CA file must
    be: whoever trusts the file trusts whatever else it holds), or None.

    Every block counts, whatever its label (openssl, and so curl, also reads TRUSTED
    CERTIFICATE and X509 CERTIFICATE blocks), and so does anything outside the blocks (DER,
    text): the file must be byte for byte `openssl x509 -in FILE`'s own output."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    labels = [m.group(1).decode("ascii", "replace") for m in _BEGIN.finditer(data)]
    certificates = labels.count("CERTIFICATE")
    others = [label for label in labels if label != "CERTIFICATE"]
    rest = _BLOCK.sub(b"", data).strip()
    if certificates > 1:
        return (
            f"holds {certificates} certificates, not only the CA: whoever trusts this file "
            "trusts every one of them"
        )
    if others:
        return (
            f"holds a {others[0]!r} PEM block besides the CA: openssl (and so curl) may trust "
            "what it holds"
        )
    if rest:
        return f"holds {len(rest)} bytes outside its PEM certificate (DER or other data)"
    try:
        canonical = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.PEM)
    except ValueError:
        return "is not a PEM certificate"
    if canonical != data:
        return "is not one PEM certificate as openssl writes it (spacing or line breaks differ)"
    return None


def from_pem(data: bytes, what: str) -> tuple[CertInfo, int]:
    """The first certificate in `data` and how many certificates `data` holds."""
    try:
        certs = load_certs(data)
        return info_of(certs[0]), len(certs)
    except KpkiError as exc:
        raise KpkiError(f"{what}: {exc}") from None


def read(path: Path | str, cwd: Path | None = None, pem: str | None = None) -> CertInfo:
    """One certificate, by file or from PEM text (a kubeconfig's *-data)."""
    return read_counted(path, cwd, pem)[0]


def read_counted(
    path: Path | str, cwd: Path | None = None, pem: str | None = None
) -> tuple[CertInfo, int]:
    """read(), and how many certificates the file holds (a ca.crt with a CA appended: 2)."""
    data = pem.encode("utf-8", "replace") if pem is not None else read_regular(path, cwd)
    return from_pem(data, str(path))


def read_all(path: Path | str, cwd: Path | None = None) -> tuple[list[CertInfo], str]:
    """Every certificate of a file, and what else it holds ('' when nothing): a PEM block
    of another kind (TRUSTED CERTIFICATE, which openssl reads too), or data outside the
    blocks."""
    data = read_regular(path, cwd)
    try:
        infos = [info_of(cert) for cert in load_certs(data)]
    except KpkiError as exc:
        raise KpkiError(f"{path}: {exc}") from None
    labels = [m.group(1).decode("ascii", "replace") for m in _BEGIN.finditer(data)]
    others = [label for label in labels if label != "CERTIFICATE"]
    rest = _BLOCK.sub(b"", data).strip()
    if others:
        return infos, f"holds a {others[0]!r} PEM block besides its certificates"
    if rest:
        return infos, f"holds {len(rest)} bytes outside its PEM certificates (DER or other data)"
    return infos, ""


def read_csr(path: Path | str, cwd: Path | None = None) -> CertInfo:
    from cryptography import x509

    data = read_regular(path, cwd)
    try:
        return info_of(x509.load_pem_x509_csr(data), kind="csr")
    except ValueError as exc:
        raise KpkiError(f"{path}: not a PEM certificate request: {exc}") from None


def public_key_of(
    key_path: Path | str | None, cwd: Path | None = None, pem: str | None = None
) -> str | None:
    """The PEM public key of a private key file (or PEM text), or None when unreadable."""
    from cryptography.hazmat.primitives import serialization

    try:
        data = pem.encode("utf-8", "replace") if pem is not None else read_regular(key_path, cwd)
        key = serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (KpkiError, ValueError, TypeError):
        return None
    return public_pem(key.public_key())


def public_key_file(path: Path | str, cwd: Path | None = None) -> str | None:
    """The PEM public key in a public key file (sa.pub), as openssl pkey -pubout writes it, or
    None when it is missing or not one."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(read_regular(path, cwd))
    except (KpkiError, ValueError, TypeError):
        return None
    return public_pem(key)


def private_key_facts(
    key_path: Path | str, cwd: Path | None = None
) -> tuple[str, int, str, str] | None:
    """(key_type, bits, curve, public PEM) of a private key file, or None when unreadable."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(
            read_regular(key_path, cwd), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (KpkiError, ValueError, TypeError):
        return None
    public = key.public_key()
    return (*key_facts(public), public_pem(public))
