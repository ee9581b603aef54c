"""Sign only what the recipe allows: a CSR reviewed against one certificate row of the plan.

A CSR is a request, and everything in it is the requester's claim. Kubernetes states what its own
signers must check (`ValidateKubeletClientCSR` / `ValidateKubeletServingCSR` in
pkg/apis/certificates/helpers.go, and the signer table of the Certificate Signing Requests page);
this module applies the same idea to every row of a recipe: everything the row asks for must be
what the CSR holds, and nothing more. Each problem is one `Violation` (one line for the user);
an empty list means the CSR may be signed. The certificate's extensions then come from the
recipe's .cnf (`x509 -req -extfile`), never from the CSR, and its validity from the recipe.

Parsing uses `cryptography`, not the openssl that signs (a check does not trust the program whose
input it checks). Pure: the CSR's bytes and the keys already taken are passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from kpki_openssl.base.messages import one_line
from kpki_openssl.checks.certinfo import EKU_NAMES, KEY_USAGE_ATTRS
from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec, KeySpec, key_facts, key_words
from kpki_openssl.recipe.sans import SubjectAltNames

MASTERS = "system:masters"  # bypasses RBAC: no rule can limit it
STRONG_HASHES = ("sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512")

_SUBJECT_NAMES = {"1.2.840.113549.1.9.1": "emailAddress"}


@dataclass(frozen=True)
class Allowed:
    """What one row of the recipe lets a CSR hold: its subject, SANs, usages and keys."""

    step: str
    subject: tuple[tuple[str, str], ...]  # (attribute, value) in the recipe's order
    sans: SubjectAltNames
    key_usage: tuple[str, ...]  # openssl's names (digitalSignature, ...)
    extended_key_usage: tuple[str, ...]
    keys: tuple[KeySpec, ...]  # the key types a CSR may carry

    @property
    def common_name(self) -> str:
        return next((v for a, v in self.subject if a == "CN"), "")

    @property
    def organizations(self) -> tuple[str, ...]:
        return tuple(v for a, v in self.subject if a == "O")


def allowed(spec: CertSpec, keys: tuple[KeySpec, ...] = ()) -> Allowed:
    """The row's own subject, SANs and usages; `keys` (default: the recipe's key) the keys
    it takes."""
    return Allowed(
        step=spec.name,
        subject=spec.subject,
        sans=spec.sans,
        key_usage=openssl_argv.key_usages(spec),
        extended_key_usage=spec.extended_key_usage,
        keys=keys or (spec.key,),
    )


@dataclass(frozen=True)
class Violation:
    """One thing the CSR asks for that the row does not allow: `check` names the field."""

    check: str
    text: str

    def __str__(self) -> str:
        return one_line(f"{self.check}: {self.text}")


def spki(key: object) -> bytes:
    """A public key's DER SubjectPublicKeyInfo: the same key gives the same bytes."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load(pem: bytes) -> object:
    """The CSR as cryptography's object; ValueError when it is not one PEM request."""
    from cryptography import x509

    if pem.count(b"-----BEGIN CERTIFICATE REQUEST-----") != 1:
        raise ValueError("not one PEM certificate request (BEGIN CERTIFICATE REQUEST)")
    return x509.load_pem_x509_csr(pem)


def review(pem: bytes, allow: Allowed, taken: Mapping[bytes, str] | None = None) -> list[Violation]:
    """Every way the CSR differs from what `allow` permits ([] when it may be signed).

    `taken` maps keys already in use (DER SubjectPublicKeyInfo) to what holds them ("CA ca
    (ca.crt)"): a CSR for one of them is refused."""
    try:
        csr = load(pem)
    except ValueError as exc:
        return [Violation("format", f"not a CSR openssl could sign ({one_line(str(exc), 120)})")]
    found: list[Violation] = []
    found += _signature(csr)
    found += _key(csr, allow, taken or {})
    found += _subject(csr, allow)
    found += _extensions(csr, allow)
    found += _attributes(csr)
    return found


def _signature(csr) -> list[Violation]:
    from cryptography.exceptions import UnsupportedAlgorithm

    out = []
    if not _self_signed(csr):
        out.append(
            Violation(
                "signature",
                "the CSR's self-signature does not verify ('verify failure' from openssl req "
                "-verify): it was not signed by the key it carries",
            )
        )
    try:
        algorithm = csr.signature_hash_algorithm
    except UnsupportedAlgorithm:
        out.append(Violation("signature hash", f"{csr.signature_algorithm_oid.dotted_string} "
                             "is not a signature algorithm this check knows"))  # fmt: skip
        return out
    if algorithm is not None and algorithm.name not in STRONG_HASHES:
        out.append(
            Violation(
                "signature hash",
                f"{algorithm.name}: SHA-256 or stronger only (Go, and so every Kubernetes "
                "component, refuses SHA-1 signatures)",
            )
        )
    return out


def _self_signed(csr) -> bool:
    """The CSR's signature verifies with the key it carries. Checked by hand, not with
    `is_signature_valid`, which says False for any SHA-1 signature (cryptography 48): a SHA-1
    CSR is refused for its hash, not called forged. (`openssl req -verify` prints its verdict
    but exits 0 either way: measured with OpenSSL 3.0.19.)"""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    try:
        key = csr.public_key()
        params = csr.signature_algorithm_parameters
        signature, signed = csr.signature, csr.tbs_certrequest_bytes
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, params, csr.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, params)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, signed)
        else:
            return bool(csr.is_signature_valid)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _key(csr, allow: Allowed, taken: Mapping[bytes, str]) -> list[Violation]:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        key = csr.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        return [Violation("key", f"cannot be read ({one_line(str(exc), 120)})")]
    out = []
    have = key_words(*key_facts(key))
    want = [k.words for k in allow.keys]
    if have not in want:
        out.append(Violation("key", f"{have}, but the recipe's key is {' or '.join(want)}"))
    holder = taken.get(spki(key))
    if holder:
        out.append(Violation("key", f"it is the key of {holder}: a key is never shared"))
    return out


def _attribute_name(attribute) -> str:
    dotted = attribute.oid.dotted_string
    return _SUBJECT_NAMES.get(dotted) or attribute.rfc4514_attribute_name


def _subject(csr, allow: Allowed) -> list[Violation]:
    out = []
    pairs: list[tuple[str, str]] = []
    for rdn in csr.subject.rdns:
        names = [_attribute_name(a) for a in rdn]
        if len(names) > 1:
            out.append(
                Violation(
                    "subject", f"a multi-valued name part ({'+'.join(names)}): none is allowed"
                )
            )
        pairs += [(_attribute_name(a), str(a.value)) for a in rdn]
    have_cn = [v for a, v in pairs if a == "CN"]
    if have_cn != [allow.common_name]:
        shown = ", ".join(repr(v) for v in have_cn) or "none"
        want = allow.common_name
        out.append(Violation("subject CN", f"{shown}, but the recipe's CN is {want!r}"))
    have_o = Counter(v for a, v in pairs if a == "O")
    want_o = Counter(allow.organizations)
    for extra in sorted((have_o - want_o).elements()):
        why = " (a group no RBAC rule can limit)" if extra == MASTERS else ""
        wanted = ", ".join(allow.organizations) or "none"
        out.append(Violation("subject O", f"{extra!r}{why} is not the recipe's O ({wanted})"))
    for missing in sorted((want_o - have_o).elements()):
        out.append(Violation("subject O", f"{missing!r} is missing (the recipe's O)"))
    want_other = Counter((a, v) for a, v in allow.subject if a not in ("CN", "O"))
    have_other = Counter((a, v) for a, v in pairs if a not in ("CN", "O"))
    for attr, value in sorted((have_other - want_other).elements()):
        out.append(Violation(f"subject {attr}", f"{value!r} is not part of the recipe's subject"))
    for attr, value in sorted((want_other - have_other).elements()):
        out.append(Violation(f"subject {attr}", f"{value!r} is missing (the recipe's subject)"))
    return out


def _extensions(csr, allow: Allowed) -> list[Violation]:
    from cryptography import x509

    try:
        extensions = list(csr.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        return [Violation("extensions", f"cannot be read ({one_line(str(exc), 120)})")]
    out: list[Violation] = []
    sans: x509.SubjectAlternativeName | None = None
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.SubjectAlternativeName):
            sans = value
        elif isinstance(value, x509.BasicConstraints):
            if value.ca:
                out.append(
                    Violation(
                        "basicConstraints",
                        "CA:TRUE: a leaf is never a CA (signed, it could sign any identity, "
                        f"{MASTERS} included)",
                    )
                )
        elif isinstance(value, x509.KeyUsage):
            asked = [name for attr, name in KEY_USAGE_ATTRS if getattr(value, attr)]
            for usage in asked:
                if usage not in allow.key_usage:
                    out.append(_not_given("keyUsage", usage, allow.key_usage))
        elif isinstance(value, x509.ExtendedKeyUsage):
            for oid in value:
                usage = EKU_NAMES.get(oid.dotted_string, oid.dotted_string)
                if usage not in allow.extended_key_usage:
                    out.append(_not_given("extendedKeyUsage", usage, allow.extended_key_usage))
        else:
            name = getattr(ext.oid, "_name", "") or ext.oid.dotted_string
            if name == "Unknown OID":
                name = ext.oid.dotted_string
            out.append(
                Violation("extension", f"{name}: not one the recipe gives (nothing is copied)")
            )
    out += _sans(sans, allow)
    return out


def _not_given(check: str, usage: str, allowed_usages: tuple[str, ...]) -> Violation:
    shown = ", ".join(allowed_usages) or "none"
    return Violation(check, f"{usage} is not one of the recipe's ({shown})")


def _sans(sans, allow: Allowed) -> list[Violation]:
    from cryptography import x509

    out: list[Violation] = []
    dns: list[str] = []
    ips: list[str] = []
    if sans is not None:
        for name in sans:
            if isinstance(name, x509.DNSName):
                dns.append(name.value)
            elif isinstance(name, x509.IPAddress):
                ips.append(str(name.value))
            elif isinstance(name, x509.RFC822Name):
                out.append(Violation("SAN email", f"{name.value!r}: email SANs are never signed"))
            elif isinstance(name, x509.UniformResourceIdentifier):
                out.append(Violation("SAN URI", f"{name.value!r}: URI SANs are never signed"))
            else:
                kind = type(name).__name__
                out.append(Violation("SAN", f"a {kind}: not one the recipe gives"))
    client = not allow.sans
    for kind, have, want in (("DNS", dns, allow.sans.dns), ("IP", ips, _ips(allow.sans.ips))):
        for extra in [v for v in dict.fromkeys(have) if v not in want]:
            if client:
                why = "this row is a client certificate: it has no SANs"
            else:
                why = f"not one of the recipe's ({', '.join(want) or 'none'})"
            out.append(Violation(f"SAN {kind}", f"{extra!r}: {why}"))
        for missing in [v for v in want if v not in have]:
            out.append(Violation(f"SAN {kind}", f"{missing!r} is missing (the recipe's)"))
    return out


def _ips(ips: tuple[str, ...]) -> tuple[str, ...]:
    """The recipe's IPs as cryptography prints them (an IPv6 address compressed)."""
    import ipaddress

    return tuple(str(ipaddress.ip_address(ip)) for ip in ips)


def _attributes(csr) -> list[Violation]:
    """CSR attributes other than the extension request (a challenge password, ...)."""
    extension_request = "1.2.840.113549.1.9.14"
    try:
        attributes = list(csr.attributes)
    except ValueError:
        return [Violation("attributes", "cannot be read")]
    return [
        Violation("attribute", f"{a.oid.dotted_string}: not one the recipe gives")
        for a in attributes
        if a.oid.dotted_string != extension_request
    ]
