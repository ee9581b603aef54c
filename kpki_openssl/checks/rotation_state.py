"""Where each CA's rotation stands, worked out from the folder alone (read-only).

No hidden progress file: which rotation files exist, which CA each certificate chains to (its
signature checked with each CA's public key, so two CAs with one subject are told apart), and
which text each component file and kubeconfig holds. A stage killed half way is found half
way, and running it again finishes it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kpki_openssl.plan import rotation
from kpki_openssl.plan.steps import ComponentStep, KubeconfigStep, Plan

# phase -> (what it means, the next stage)
PHASES = {
    "idle": ("no rotation under way", "trust"),
    "trust": ("trust begun, not finished", "trust"),
    "trusted": ("every verifier trusts old + new; every leaf still from the old CA", "switch"),
    "switch": ("switch begun, not finished", "switch"),
    "switched": ("every leaf from the new CA; every verifier still trusts both", "remove"),
    "remove": ("remove begun, not finished", "remove"),
    "done": ("the new CA holds the recipe's file names; the old one is trusted nowhere", ""),
}


# what each phase means for a key pair (the service-account keys): no leaves, tokens instead
KEY_PHASES = {
    "idle": PHASES["idle"],
    "trust": PHASES["trust"],
    "trusted": ("kube-apiserver checks tokens with the old and the new public key", "switch"),
    "switch": PHASES["switch"],
    "switched": ("tokens are signed with the new key; both public keys still check them", "remove"),
    "remove": PHASES["remove"],
    "done": ("the new key pair holds the recipe's file names; the old public key is gone", ""),
}


@dataclass(frozen=True)
class Status:
    """One CA's rotation as the folder shows it."""

    ca: str
    phase: str
    old_leaves: tuple[str, ...]  # leaf files still signed by the old CA
    new_leaves: tuple[str, ...]  # leaf files signed by the new CA
    pending: tuple[str, ...]  # files the phase's stage has not written as it wants yet
    aside: str  # where remove copies the old CA's files ('' once they are there)
    keypair: bool = False  # a bare key pair (the service-account keys), not a CA

    @property
    def meaning(self) -> str:
        return (KEY_PHASES if self.keypair else PHASES)[self.phase][0]

    @property
    def next(self) -> str:
        return PHASES[self.phase][1]

    @property
    def text_phase(self) -> str:
        """The phase the other CAs' stages keep this CA's file texts at."""
        return {"trust": "trust", "trusted": "trust", "switch": "switch", "switched": "switch"}.get(
            self.phase, ""
        )


def _read(path: Path) -> bytes | None:
    from kpki_openssl.base.errors import KpkiError
    from kpki_openssl.base.safefs import read_regular

    if not path.is_file() or path.is_symlink():
        return None
    try:
        return read_regular(path)
    except (KpkiError, OSError):  # unreadable, too big: absent; the stage makes it again
        return None


def _cert(data: bytes | None) -> Any:
    from cryptography import x509

    if not data:
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        return None


def signed_by(cert: Any, ca: Any) -> bool:
    """Whether `ca`'s key signed `cert` (names and signature, not only the issuer's name)."""
    if cert is None or ca is None:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:  # a wrong signature, a different issuer name, an unsupported key
        return False
    return True


def _public(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _kubeconfig_ca(data: bytes | None) -> bytes | None:
    from kpki_openssl.base import safeyaml

    if data is None:
        return None
    try:
        doc = safeyaml.load(data.decode("utf-8"), "kubeconfig")
        cluster = doc["clusters"][0]["cluster"]
        return base64.b64decode(cluster["certificate-authority-data"])
    except Exception:  # not a kubeconfig, no CA data: not as the stage wants it
        return None


def _in_place(out: Path, plan: Plan, phases: dict[str, str]) -> list[str]:
    """The component files and kubeconfigs that do not yet hold what these phases write."""
    from kpki_openssl.plan.steps import WriteFile

    pending = []
    for step in rotation.rewritten(plan, phases):
        found = _read(out / step.name)
        if isinstance(step, ComponentStep):
            text = next(a.content for a in step.actions if isinstance(a, WriteFile))
            if found != text.encode("utf-8"):
                pending.append(step.name)
        elif (
            isinstance(step, KubeconfigStep)
            and step.spec.embed
            and _kubeconfig_ca(found) != _read(out / step.spec.ca_file)
        ):
            pending.append(step.name)
    return pending


def status(out: Path, plan: Plan, name: str, phases: dict[str, str] | None = None) -> Status:
    """Where CA (or key pair) `name`'s rotation stands in `out` (`phases`: the other
    rotations' text phases)."""
    others = {k: v for k, v in (phases or {}).items() if k != name and v}
    if rotation.is_keypair(plan, name):
        return _key_status(out, plan, name, others)
    f = rotation.files(plan, name)
    old_data = _read(out / f.ca.cert_file)
    old, new = _cert(old_data), _cert(_read(out / f.new.cert_file))
    aside = ""
    if old_data is not None:
        digest = hashlib.sha256(old_data).hexdigest()[:16]
        aside = f"{rotation.REPLACED_DIR}/{name}-{digest}"
    leaf_files = [s.spec.cert_file for s in rotation.leaves(plan, name)]
    certs = {p: _cert(_read(out / p)) for p in leaf_files}
    if new is None:
        return Status(
            name, "idle", tuple(p for p, c in certs.items() if c is not None), (), (), aside
        )
    swapped = old is not None and _public(old) == _public(new)
    if swapped:
        pending = _in_place(out, plan, others)
        phase = "remove" if pending else "done"
        return Status(name, phase, (), tuple(leaf_files), tuple(pending), "")
    old_leaves = tuple(p for p, c in certs.items() if signed_by(c, old))
    new_leaves = tuple(p for p, c in certs.items() if signed_by(c, new))
    bundle_ok = old_data is not None and _read(out / f.bundle) == old_data + (
        _read(out / f.new.cert_file) or b""
    )
    needs_signer = rotation.needs_signer(plan, f)
    if not new_leaves:
        pending = _in_place(out, plan, {**others, name: "trust"})
        if not bundle_ok:
            pending.insert(0, f.bundle)
        if needs_signer and _cert(_read(out / f.signer)) is None:
            pending.insert(0, f.signer)
        phase = "trusted" if not pending else "trust"
        return Status(name, phase, old_leaves, (), tuple(pending), aside)
    pending = _in_place(out, plan, {**others, name: "switch"})
    if needs_signer and _read(out / f.signer) != _read(out / f.new.cert_file):
        pending.insert(0, f.signer)
    pending[:0] = list(old_leaves)
    phase = "switched" if not pending else "switch"
    return Status(name, phase, old_leaves, new_leaves, tuple(pending), aside)


def _key_status(out: Path, plan: Plan, name: str, others: dict[str, str]) -> Status:
    return replace(_key_phase(out, plan, name, others), keypair=True)


def _key_phase(out: Path, plan: Plan, name: str, others: dict[str, str]) -> Status:
    """A key pair's rotation: the new pair's files, which public key the old names hold, and
    which flags the component files hold (trust: both public keys; switch: signing new)."""
    kf = rotation.key_files(plan, name)
    old_pub, new_pub = _read(out / kf.pair.pub_file), _read(out / kf.new.pub_file)
    digest = hashlib.sha256(old_pub or b"").hexdigest()[:16]
    aside = f"{rotation.REPLACED_DIR}/{name}-{digest}" if old_pub is not None else ""
    if new_pub is None or _read(out / kf.new.key_file) is None:
        return Status(name, "idle", (), (), (), aside)
    if old_pub == new_pub:
        pending = _in_place(out, plan, others)
        return Status(name, "remove" if pending else "done", (), (), tuple(pending), "")
    at_switch = _in_place(out, plan, {**others, name: "switch"})
    at_trust = _in_place(out, plan, {**others, name: "trust"})
    if not at_switch:
        return Status(name, "switched", (), (), (), aside)
    if not at_trust:
        return Status(name, "trusted", (), (), (), aside)
    # some file already as switch writes it: a switch was begun
    begun = set(_in_place(out, plan, {**others, name: "trust"})) - set(at_switch)
    phase = "switch" if begun else "trust"
    return Status(name, phase, (), (), tuple(at_switch if begun else at_trust), aside)


def all_status(out: Path, plan: Plan) -> dict[str, Status]:
    """Every rotatable CA's and key pair's status; each one's texts judged with the others at
    their phases."""
    names = [c.name for c in rotation.rotatable(plan)] + [k.name for k in plan.keypairs]
    first = {n: status(out, plan, n) for n in names}
    phases = {n: s.text_phase for n, s in first.items()}
    return {n: status(out, plan, n, phases) for n in first}


def still_old(out: Path, plan: Plan, name: str, given: Iterable[Path] = ()) -> list[str]:
    """Every certificate in the folder (certificate files, kubeconfigs' embedded client
    certificates) or given, that the old CA of `name` still signs."""
    f = rotation.files(plan, name)
    old = _cert(_read(out / f.ca.cert_file))
    if old is None:
        return []
    found: list[str] = []
    configs = {k.file for k in plan.kubeconfigs}
    skip = {f.ca.cert_file, f.new.cert_file, f.bundle, f.signer}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if rel.startswith(".kpki/") or rel in skip or not path.is_file() or path.is_symlink():
            continue
        if path.suffix in (".crt", ".pem"):
            if signed_by(_cert(_read(path)), old):
                found.append(rel)
        elif (path.suffix == ".kubeconfig" or rel in configs) and signed_by(
            _embedded_client(_read(path)), old
        ):
            found.append(f"{rel} (client-certificate-data)")
    for path in given:
        if signed_by(_cert(_read(path)), old):
            found.append(str(path))
    return found


def _embedded_client(data: bytes | None) -> Any:
    from kpki_openssl.base import safeyaml

    if data is None:
        return None
    try:
        doc = safeyaml.load(data.decode("utf-8"), "kubeconfig")
        user = doc["users"][0]["user"]
        return _cert(base64.b64decode(user["client-certificate-data"]))
    except Exception:  # no embedded certificate here
        return None
