"""Whether a CSR in the folder is the request the recipe's step makes: before `csr NAME` wraps
it for the cluster to sign, a CSR swapped in the folder (another subject such as
O=system:masters, more SANs, another key type) must not travel under the step's name."""

from __future__ import annotations

from kpki_openssl.base import messages
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks import certinfo, expected
from kpki_openssl.plan.certlist import CertSpec, key_words


def problem(spec: CertSpec, data: bytes) -> str | None:
    """Why the PEM CSR `data` is not what `spec`'s step asks for (its signature, subject,
    SANs and key type), in one line; None when it is."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    file = spec.csr_file
    try:
        request = x509.load_pem_x509_csr(data)
        info = certinfo.info_of(request, kind="csr")
    except (ValueError, KpkiError):
        return f"{file} is not a PEM certificate request"
    if request.public_bytes(serialization.Encoding.PEM) != data:
        return f"{file} holds more than one PEM certificate request as openssl writes it"
    if not request.is_signature_valid:
        return f"{file}'s signature does not verify (it was not made with its own key)"
    if info.subject != spec.subject_text:
        return messages.one_line(
            f"{file} asks for subject {info.subject}, the recipe for {spec.subject_text}"
        )
    want = sorted(expected.requested(spec).sans.entries())
    have = sorted(info.sans.entries())
    if have != want:
        shown = ",".join(have) or "none"
        return messages.one_line(
            f"{file} asks for SANs {shown}, the recipe for {','.join(want) or 'none'}"
        )
    key = key_words(info.key_type, info.key_bits, info.key_curve)
    if key != spec.key.words:
        return f"{file} holds a {key} key, the recipe asks for {spec.key.words}"
    return None
