"""What each built certificate was made from, so a re-run can tell "unchanged" from "changed".

The runner keeps one record per step in DIR/.kpki/state.json. A record holds the inputs a person
would care about (subject, SANs, extensions, key type and size, validity, signing CA) plus hashes
of the key files actually used. A step whose record differs from the current plan is reported
with the reasons, never rebuilt silently. Pure: the runner reads and writes the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from kpki_openssl.plan import Command, Step, WriteFile

Record = dict[str, Any]

# field -> the reason shown when it differs, in the order reasons are listed
_REASONS = (
    ("subject", "subject differs"),
    ("sans", "SANs differ"),
    ("extensions", "extensions differ"),
    ("key", "key type or size differs"),
    ("days", "validity differs"),
    ("signer", "signing CA differs"),
    ("signer_key", "signed by a different CA key"),
    ("key_file", "key file was replaced"),
    ("contents", "file contents differ"),
)


def digest(data: bytes | str) -> str:
    """A short sha256 of text or bytes (enough to notice a change, nothing to recover)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:32]


def planned(step: Step) -> Record:
    """The record of what the plan would build for this step (no file hashes yet)."""
    spec = step.cert
    files = "".join(a.content for a in step.actions if isinstance(a, WriteFile))
    argv = "\n".join(" ".join(a.argv) for a in step.actions if isinstance(a, Command))
    if spec is None:  # a kubeconfig or configuration file: its text and commands
        return {"contents": digest(files), "commands": digest(argv)}
    return {
        "subject": spec.subject_text,
        "sans": sorted([*(f"DNS:{d}" for d in spec.dns), *(f"IP:{ip}" for ip in spec.ips)]),
        "extensions": digest(files),
        "key": f"{spec.key.type} {spec.key.size}",
        "days": spec.days,
        "signer": spec.ca or "",
        "commands": digest(argv),
    }


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why `new` is not what `old` was built from; [] when the same (or nothing was recorded).

    SANs live in the .cnf too, so a SAN change is not also reported as an extensions change.
    """
    if not old:
        return []
    reasons = [why for key, why in _REASONS if key in old and key in new and old[key] != new[key]]
    if "SANs differ" in reasons and "extensions differ" in reasons:
        reasons.remove("extensions differ")
    if not reasons and old.get("commands") not in (None, new.get("commands")):
        reasons.append("commands differ")
    return reasons


def hint(step: Step, reasons: list[str]) -> str:
    """The flag that rebuilds a changed step."""
    if step.cert is None:
        return "use --force to write it again"
    is_ca = step.cert.is_ca
    if is_ca:
        if reasons == ["validity differs"]:
            return f"use 'renew {step.name}' for the new validity"
        return "use --replace-ca to make a new CA (it invalidates every certificate it signed)"
    if "key type or size differs" in reasons:
        return "use --force --new-keys to re-issue with a new key"
    if reasons == ["validity differs"]:
        return f"use 'renew {step.name}' or --force to re-issue"
    return "use --force to re-issue"
