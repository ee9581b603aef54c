"""`kubeadm certs generate-csr` output: each CSR with the file kubeadm wrote beside it.

kubeadm (external CA mode) writes, per certificate, `NAME.csr` beside its key `NAME.key`, and
per kubeconfig `NAME.conf.csr` beside a partial `NAME.conf` whose user holds only
`client-key-data` (no CA, no client certificate: kubeadm's createKubeConfigAndCSR). `sign
--kubeadm` checks each pair before signing, and says how to finish the kubeconfig afterwards:
the two `kubectl config` commands that embed the CA and the signed certificate.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks import certinfo, csr_policy, kubeconfig_files
from kpki_openssl.plan.signing import Target


def _public(pem: bytes) -> bytes | None:
    try:
        return csr_policy.spki(csr_policy.load(pem).public_key())  # type: ignore[attr-defined]
    except ValueError:
        return None


def kubeconfig_beside(csr: Path) -> Path:
    """NAME.conf for NAME.conf.csr."""
    return csr.with_name(csr.name.removesuffix(".csr"))


def check(target: Target, csr: Path, pem: bytes) -> list[str]:
    """Why the CSR and the file kubeadm wrote beside it are not a pair ([]: they are)."""
    mine = _public(pem)
    if mine is None:
        return []  # not a CSR: the policy says so
    if not target.kubeconfig:
        key = csr.with_suffix(".key")
        if key.is_file() and certinfo.public_key_of(key) != _public_pem(pem):
            return [f"{key.name} beside it is not the CSR's key"]
        return []
    conf = kubeconfig_beside(csr)
    if not conf.is_file():
        return [f"{conf.name} is not beside it (kubeadm writes NAME.conf with NAME.conf.csr)"]
    try:
        text = certinfo.read_regular(conf).decode("utf-8", errors="replace")
    except KpkiError as exc:
        return [str(exc)]
    parsed = kubeconfig_files.parse(conf.name, text)
    if parsed is None or len(parsed.entries) != 1:
        return [f"{conf.name} is not a kubeconfig with one user, as kubeadm writes it"]
    entry = parsed.entries[0]
    problems = []
    if entry.key is None or not entry.key.embedded or entry.key.error:
        problems.append(f"{conf.name}: users[{entry.user}] has no client-key-data")
    elif certinfo.public_key_of(None, pem=entry.key.pem) != _public_pem(pem):
        problems.append(f"{conf.name}: users[{entry.user}].client-key-data is not the CSR's key")
    if entry.cert is not None:
        problems.append(
            f"{conf.name}: users[{entry.user}] already holds a client certificate (kubeadm's "
            "partial kubeconfig holds none)"
        )
    return problems


def _public_pem(pem: bytes) -> str:
    """The CSR's public key as `openssl pkey -pubout` writes it (certinfo's form)."""
    return certinfo.public_pem(csr_policy.load(pem).public_key())  # type: ignore[attr-defined]


def finish(target: Target, csr: Path, out: Path) -> list[str]:
    """The commands, run where the kubeadm files are, that put the signed certificate in place:
    `install` beside the key, or for a kubeconfig the `kubectl config` calls that embed the CA
    and the certificate."""
    spec, signer = target.step.spec, target.step.signer
    cert = out / spec.cert_file
    if not target.kubeconfig:
        dest = csr.with_suffix(".crt")
        return [shlex.join(["install", "-m", "0644", str(cert), str(dest)])]
    conf = kubeconfig_beside(csr)
    text = certinfo.read_regular(conf).decode("utf-8", errors="replace")
    data = kubeconfig_files.load_yaml(text)
    parsed = kubeconfig_files.parse(conf.name, text)
    assert parsed is not None and isinstance(data, dict)  # checked before signing
    user = parsed.entries[0].user
    cluster = next(
        (
            (c.get("context") or {}).get("cluster", "")
            for c in data.get("contexts") or []
            if isinstance(c, dict) and (c.get("context") or {}).get("user") == user
        ),
        "",
    )
    ca = out / signer.cert_file if signer else out
    return [
        shlex.join(["kubectl", "config", "set-cluster", str(cluster), f"--kubeconfig={conf}",
                    f"--certificate-authority={ca}", "--embed-certs=true"]),
        shlex.join(["kubectl", "config", "set-credentials", user, f"--kubeconfig={conf}",
                    f"--client-certificate={cert}", "--embed-certs=true"]),
    ]  # fmt: skip
