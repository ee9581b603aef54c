"""Is a file a step produced what it should be? Checked before it is renamed into the folder.

Why: on a full disk openssl can exit 0 and leave an empty or cut-off file; installed, it would
count as built, be skipped by every later run, and (as ca.crt) block them all. So each produced
file must be a regular, non-empty file that parses as what it is (a private key, a CSR, a
certificate that matches its key, a public key, a kubeconfig, a YAML document, a flags file);
a file the tool wrote itself must hold exactly the planned text. Parsing uses `cryptography`,
not openssl, so a check does not trust the program whose output it checks.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kpki_openssl.base.errors import KpkiError


class NotProduced(KpkiError):
    """A step's command exited 0, but a file it made is not what it should be."""


def preload() -> None:
    """Import what the checks use (cryptography: ~20 ms), so a run can do it while its first
    step's commands run rather than when that step's files are checked."""
    from cryptography import x509  # noqa: F401
    from cryptography.exceptions import InvalidSignature  # noqa: F401
    from cryptography.hazmat.primitives import serialization  # noqa: F401


def check_step(step: Any, stage: Path, out: Path, made: Iterable[str]) -> None:
    """Every file in `made` (staged in `stage`) is what `step` should have produced; the
    certificate's key may be staged or already in `out` (a kept key)."""
    from kpki_openssl.plan.steps import CertStep, KeyPairStep

    planned, rewritten = _planned_texts(step)
    cert = step.spec if isinstance(step, CertStep) else None
    pair = step.spec if isinstance(step, KeyPairStep) else None
    checker = getattr(step, "check_file", None)  # what a step knows of its own files
    for path in made:
        full = stage / path
        data = _regular_bytes(step.name, full, path)
        problem = checker(path, data) if checker is not None else None
        if problem:
            _refuse(step.name, path, problem)
        if path in planned and path not in rewritten:
            if data != planned[path]:
                _refuse(step.name, path, "differs from the text written (cut short?)")
        elif path in (getattr(cert, "key_file", None), getattr(pair, "key_file", None)):
            private_key(step.name, path, data)
        elif cert is not None and path == cert.csr_file:
            csr(step.name, path, data)
        elif cert is not None and path == cert.cert_file:
            key_path = stage / cert.key_file
            if not key_path.exists():
                key_path = out / cert.key_file
            made = certificate(step.name, path, data, _key_bytes(key_path))
            csr_path = stage / cert.csr_file
            if not csr_path.exists():
                csr_path = out / cert.csr_file
            same_key_as_csr(step.name, path, made, _key_bytes(csr_path))
            signer = step.signer.cert_file if step.signer is not None else None
            if signer is not None:
                signed_by(step.name, path, made, stage, out, signer)
        elif pair is not None and path == getattr(pair, "pub_file", None):
            public_key(step.name, path, data)
        elif path in planned:  # a kubeconfig kubectl rewrote (--embed-certs)
            yaml_mapping(step.name, path, data, kind="Config")


def private_key(step: str, path: str, data: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as exc:
        _refuse(step, path, f"is not a PEM private key ({_why(exc)})")


def public_key(step: str, path: str, data: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        _refuse(step, path, f"is not a PEM public key ({_why(exc)})")


def csr(step: str, path: str, data: bytes) -> Any:
    from cryptography import x509

    try:
        request = x509.load_pem_x509_csr(data)
        ok = request.is_signature_valid
    except ValueError as exc:
        _refuse(step, path, f"is not a PEM certificate request ({_why(exc)})")
    if not ok:
        _refuse(step, path, "is a certificate request whose signature does not verify")
    return request


def certificate(step: str, path: str, data: bytes, key_data: bytes | None) -> Any:
    """A whole PEM certificate whose public key is the key's (when the key is there)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        _refuse(step, path, f"is not a PEM certificate ({_why(exc)})")
    if key_data is not None:
        key = private_key(step, path + "'s key", key_data)
        if _spki(key.public_key()) != _spki(cert.public_key()):
            _refuse(step, path, "does not match its private key")
    return cert


def same_key_as_csr(step: str, path: str, cert: Any, csr_data: bytes | None) -> None:
    """The certificate carries the public key of the CSR it was signed from (when that CSR is
    there): a certificate for any other key would be one its holder cannot use."""
    from cryptography import x509

    if csr_data is None:
        return
    try:
        request = x509.load_pem_x509_csr(csr_data)
    except ValueError as exc:
        _refuse(step, path, f"cannot be compared with its CSR ({_why(exc)})")
    if _spki(request.public_key()) != _spki(cert.public_key()):
        _refuse(step, path, "does not carry its CSR's public key")


def signed_by(step: str, path: str, cert: Any, stage: Path, out: Path, ca_file: str) -> None:
    """The certificate's signature verifies with the CA certificate's key: a ca.key that is
    not ca.crt's would sign certificates that nothing verifies."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    ca_path = stage / ca_file if (stage / ca_file).exists() else out / ca_file
    try:
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError) as exc:
        _refuse(step, path, f"does not verify with {ca_file} ({_why(exc)})")
    except InvalidSignature:
        _refuse(step, path, f"is not signed by {ca_file}'s key (is the CA key {ca_file}'s?)")


def yaml_mapping(step: str, path: str, data: bytes, kind: str | None = None) -> dict:
    from kpki_openssl.base import safeyaml

    try:
        doc = safeyaml.load(data.decode("utf-8"), path)
    except (UnicodeDecodeError, KpkiError) as exc:
        _refuse(step, path, f"is not a YAML document ({_why(exc)})")
    if not isinstance(doc, dict) or (kind is not None and doc.get("kind") != kind):
        _refuse(step, path, f"is not a YAML mapping of kind {kind}" if kind else "is not a mapping")
    return doc


def _planned_texts(step: Any) -> tuple[dict[str, bytes], set[str]]:
    """The text of each file the tool writes itself, and the files a command rewrites."""
    planned: dict[str, bytes] = {}
    rewritten: set[str] = set()
    for action in step.actions:
        if hasattr(action, "content"):
            planned[action.path] = action.content.encode("utf-8")
        else:
            rewritten.update(action.writes)
    return planned, rewritten


def _regular_bytes(step: str, full: Path, path: str) -> bytes:
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        raise NotProduced(f"step {step}: its commands exited 0 but did not write {path}") from None
    if not stat.S_ISREG(st.st_mode):
        _refuse(step, path, "is not a regular file")
    if st.st_size == 0:
        _refuse(step, path, "is empty (a full disk?)")
    return full.read_bytes()


def _key_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _why(exc: BaseException) -> str:
    from kpki_openssl.base import messages

    return messages.one_line(str(exc), 120)


def _refuse(step: str, path: str, what: str) -> Any:
    raise NotProduced(f"step {step}: {path} {what}; nothing of this step was installed")
