"""What `renew` checks before it signs anything: that it would sign what the recipe asks for.

Why: renew re-signs the CSR and .cnf an earlier run left in the folder with the CA's key there.
If that key is not the one in ca.crt, every certificate it signs stops verifying; if the CSR was
swapped (another key, another subject such as O=system:masters) or the .cnf edited (more SANs),
renew would sign someone else's request with the cluster's CA. So each is compared, with
`cryptography`, against the kept key and the recipe, and any difference refuses the whole renew
in one line before a file is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.recipe.sans import SubjectAltNames


class RenewRefused(KpkiError):
    """The folder's CA key, CSR or .cnf is not what the recipe and the kept key say."""


def check_plan(plan: Any, out: Path) -> None:
    """Every certificate step of the renew plan `plan` may be signed in `out`."""
    from kpki_openssl.plan.steps import CertStep

    for step in plan.steps:
        if isinstance(step, CertStep):  # the step carries its CA, selected or not
            check_one(step.spec, step.signer or step.spec, out)


def check_one(spec: Any, signer: Any, out: Path) -> None:
    from cryptography import x509

    from kpki_openssl.plan import openssl_argv

    name = spec.name
    if signer is not None:
        ca_cert = _load(name, out / signer.cert_file, x509.load_pem_x509_certificate, "certificate")
        ca_key = _private_key(name, out / signer.key_file)
        if _spki(ca_key.public_key()) != _spki(ca_cert.public_key()):
            _refuse(
                name,
                f"{signer.key_file} does not match {signer.cert_file} (another public key): "
                "what it signed would not verify",
            )
    request = _load(name, out / spec.csr_file, x509.load_pem_x509_csr, "certificate request")
    if not request.is_signature_valid:
        _refuse(name, f"{spec.csr_file}'s signature does not verify")
    key = _private_key(name, out / spec.key_file)
    if _spki(key.public_key()) != _spki(request.public_key()):
        _refuse(name, f"{spec.csr_file} is not {spec.key_file}'s request (another public key)")
    want = [(attr, value) for attr, value in spec.subject]
    got = [(a.rfc4514_attribute_name, a.value) for a in request.subject]
    if got != want:
        _refuse(
            name,
            f"{spec.csr_file} asks for subject {_dn(got)}, the recipe for {_dn(want)}",
        )
    sans = _request_sans(request)
    expected = sorted(spec.sans.entries())
    if sans is not None and sans != expected:
        asked = f"{spec.csr_file} asks for SANs {_list(sans)}"
        _refuse(name, f"{asked}, the recipe for {_list(expected)}")
    if spec.cnf_file and spec.sign_extensions:
        cnf = out / spec.cnf_file
        try:
            text = cnf.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _refuse(name, f"cannot read {spec.cnf_file}: {getattr(exc, 'strerror', None) or exc}")
        if _settings(text) != _settings(openssl_argv.cnf_text(spec)):
            _refuse(
                name,
                f"{spec.cnf_file} is not the recipe's (its extensions and SANs would be signed); "
                f"'run {name} --force' re-issues it from the recipe",
            )


def _settings(cnf: str) -> list[str]:
    """A .cnf's lines that openssl reads: comments and blank lines (where a newer version or
    another title may differ) do not count."""
    lines = (line.strip() for line in cnf.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _request_sans(request: Any) -> list[str] | None:
    from cryptography import x509

    try:
        ext = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    sans = SubjectAltNames.from_x509(ext)
    other = len(list(ext)) - len(sans)
    return sorted(sans.entries()) + (["(other names)"] if other else [])


def _load(name: str, path: Path, loader: Any, what: str) -> Any:
    try:
        return loader(path.read_bytes())
    except OSError as exc:
        _refuse(name, f"cannot read {path.name}: {exc.strerror or exc}")
    except ValueError:
        _refuse(name, f"{path.name} is not a PEM {what}")


def _private_key(name: str, path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    def load(data: bytes) -> Any:
        return serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )

    return _load(name, path, load, "private key")


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _dn(pairs: list[tuple[str, str]]) -> str:
    return "/" + "/".join(f"{a}={v}" for a, v in pairs)


def _list(items: list[str]) -> str:
    return ",".join(items) or "none"


def _refuse(name: str, why: str) -> Any:
    from kpki_openssl.base import messages

    raise RenewRefused(messages.one_line(f"renew {name}: {why}; nothing was written"))
