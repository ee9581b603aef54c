"""What the output folder says about a CSR to sign: keys it already holds, and whether the
step is free, already signed from this very CSR, or holds something a signature would replace.

Read-only: files are read whole (capped, never a FIFO) and parsed with `cryptography`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks import certinfo, csr_policy
from kpki_openssl.plan.steps import CertStep, KeyPairStep, Plan

FREE, SIGNED, IN_FOLDER = "free", "signed", "in folder"


def _public_key(path: Path, kind: str) -> object | None:
    """The public key in a certificate, CSR, private or public key file (None if unreadable)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        data = certinfo.read_regular(path)
    except KpkiError:
        return None
    try:
        if kind == "crt":
            return x509.load_pem_x509_certificate(data).public_key()
        if kind == "csr":
            return x509.load_pem_x509_csr(data).public_key()
        if kind == "pub":
            return serialization.load_pem_public_key(data)
        key = serialization.load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=True)
        return key.public_key()
    except (ValueError, TypeError):
        return None


def keys_in_folder(out: Path, plan: Plan, skip: Iterable[str] = ()) -> dict[bytes, str]:
    """Every key the folder's certificates, CSRs and keys carry, by DER SubjectPublicKeyInfo,
    with what holds it ("CA ca (ca.crt)"), leaving out the steps named in `skip`."""
    skipped = set(skip)
    found: dict[bytes, str] = {}
    for step in plan.steps:
        if step.name in skipped:
            continue
        if isinstance(step, CertStep):
            spec = step.spec
            what = f"{'CA' if spec.is_ca else 'step'} {step.name}"
            files = ((spec.cert_file, "crt"), (spec.key_file, "key"), (spec.csr_file, "csr"))
        elif isinstance(step, KeyPairStep):
            what = f"key pair {step.name}"
            files = ((step.spec.key_file, "key"), (step.spec.pub_file, "pub"))
        else:
            continue
        for rel, kind in files:
            path = out / rel
            if path.is_file():
                key = _public_key(path, kind)
                if key is not None:
                    found.setdefault(csr_policy.spki(key), f"{what} ({rel})")
    return found


@dataclass(frozen=True)
class State:
    """The step's files in the folder, for the CSR about to be signed: FREE (sign it),
    SIGNED (its certificate was signed from this very CSR: nothing to do), IN_FOLDER (the
    folder already holds this CSR: sign it without copying), or `problem` (refused)."""

    kind: str
    problem: str = ""


def state(out: Path, step: CertStep, pem: bytes, source: Path) -> State:
    """What the folder holds for `step`, given the CSR's bytes and where they were read."""
    spec = step.spec
    csr_path, cert_path, key_path = (out / spec.csr_file, out / spec.cert_file, out / spec.key_file)
    same_file = csr_path.exists() and csr_path.resolve() == source.resolve()
    held = _bytes(csr_path)
    if key_path.exists():
        key = _public_key(key_path, "key")
        try:
            mine = csr_policy.spki(csr_policy.load(pem).public_key())  # type: ignore[attr-defined]
        except ValueError:
            mine = b""
        if key is None or csr_policy.spki(key) != mine:
            return State(
                "",
                f"{spec.key_file} is in the folder and is not this CSR's key: run made this "
                f"step here; move {spec.key_file} away to sign a key made elsewhere",
            )
    if held is not None and held != pem:
        return State(
            "",
            f"{spec.csr_file} in the folder holds another CSR; it is never overwritten: move "
            "it away to sign this one",
        )
    if cert_path.exists():
        if held == pem:
            return State(SIGNED)
        return State(
            "",
            f"{spec.cert_file} exists, signed from another CSR or by run; sign never re-issues "
            f"a certificate: move it away first",
        )
    if same_file or held == pem:
        return State(IN_FOLDER)
    return State(FREE)


def _bytes(path: Path) -> bytes | None:
    if not path.exists():
        return None
    try:
        return certinfo.read_regular(path)
    except KpkiError:
        return b""
