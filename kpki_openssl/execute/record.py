"""The build record: what each step built, as fields, so a re-run can say what changed and
which flag fixes it.

One record per step, kept by the runner in DIR/.kpki/record/ (schema 2). A certificate's record
holds the fields that define it (subject, SANs, usages, CA flag, the rest of its extensions, key
type/size/curve, validity, the signing CA's name and subject, its file names) plus what the
runner saw when it installed the files: a digest of its key, of the signing CA's key and of every
file it wrote. A generated file's record holds its text (minus comment lines) as a digest.
Titles, explanations, departures and document lines are never part of a record: changing them
changes nothing that was built. Pure: the runner reads and writes the files.

Folders built before schema 2 kept one `.kpki/state.json` of hashes of the rendered text
(schema 1); `migrate_v1` turns such a record into fields without a false "changed".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import (
    CertStep,
    Command,
    KeyPairStep,
    KubeconfigStep,
    Step,
    WriteFile,
)

SCHEMA = 2
Record = dict[str, Any]

# Fields filled in by the runner at install time, from the files themselves.
KEY_DIGEST = "key_file"  # digest of the step's own key as installed
SIGNER_KEY_DIGEST = "signer_key"  # digest of the signing CA's key when this was signed
MADE = "made"  # {path: digest} of every file the step installed
SOURCE = "source"  # FROM_CSR: signed from a CSR made elsewhere (`sign`); the key is not here
FROM_CSR = "csr"


def from_csr(fields: Mapping[str, Any] | None) -> bool:
    """The record of a certificate `sign` made from a CSR: its key never was in the folder.
    Said by `sign`'s own record, or seen when the runner installed a certificate (re-signed by
    `run --force` or after a replaced CA) while its key file was nowhere."""
    if not fields:
        return False
    if fields.get(SOURCE) == FROM_CSR:
        return True
    made, files = fields.get(MADE), fields.get("files")
    return (
        fields.get("kind") == "certificate"
        and KEY_DIGEST not in fields
        and isinstance(made, dict)
        and isinstance(files, list)
        and bool(files)
        and made.get(files[0]) == ""
    )


UNKNOWN = "unknown (recorded by an older kpki_openssl)"


def digest(data: bytes | str) -> str:
    """A short sha256 of text or bytes (enough to notice a change, nothing to recover)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:32]


def semantic_digest(text: str, leave_out: tuple[str, ...] = ()) -> str:
    """A generated file's digest without its comment lines (a title is not a change) and
    without lines starting with `leave_out` (fields compared on their own)."""
    lines = (ln.strip() for ln in text.splitlines())
    return digest("\n".join(ln for ln in lines if not ln.startswith(("#", *leave_out))))


# .cnf lines whose content is a field of its own in a certificate's record
_CNF_FIELDS = ("keyUsage", "extendedKeyUsage", "basicConstraints", "DNS.", "IP.")


def _generated(step: Step) -> str:
    return "".join(a.content for a in step.actions if isinstance(a, WriteFile))


def cert_fields(spec: CertSpec, signer: CertSpec | None, cnf_text: str) -> Record:
    return {
        "kind": "certificate",
        "subject": spec.subject_text,
        "sans": sorted(spec.sans.entries()),
        "ca": spec.is_ca,
        "key_usage": sorted(openssl_argv.key_usages(spec)),
        "extended_key_usage": sorted(spec.extended_key_usage),
        "extensions": semantic_digest(cnf_text, _CNF_FIELDS),
        "key": spec.key.words,
        "days": spec.days,
        "signer": signer.name if signer else "",
        "signer_subject": signer.subject_text if signer else "",
        "files": [spec.key_file, spec.csr_file, spec.cert_file, spec.cnf_file],
    }


def planned(step: Step) -> Record:
    """The record of what the plan would build for this step (no observed digests yet)."""
    if isinstance(step, CertStep):
        fields = cert_fields(step.spec, step.signer, _generated(step))
        if getattr(step, "kind", "") == "sign":  # plan.signing.SignStep: its key is elsewhere
            fields[SOURCE] = FROM_CSR
        return fields
    if isinstance(step, KeyPairStep):
        spec = step.spec
        return {"kind": "key pair", "key": spec.key.words, "files": list(step.writes)}
    kind = "kubeconfig" if isinstance(step, KubeconfigStep) else "file"
    argv = "\n".join(" ".join(a.argv) for a in step.actions if isinstance(a, Command))
    return {
        "kind": kind,
        "contents": semantic_digest(_generated(step)),
        "commands": digest(argv),
        "files": list(step.writes),
    }


@dataclass(frozen=True)
class FieldChange:
    """One field that differs between what was built and what the plan says now."""

    field: str
    built: Any
    planned: Any

    def __str__(self) -> str:
        label = _LABELS.get(self.field, self.field)
        if isinstance(self.built, list) and isinstance(self.planned, list):
            gone = [f"-{v}" for v in self.built if v not in self.planned]
            new = [f"+{v}" for v in self.planned if v not in self.built]
            return f"{label}: {' '.join(gone + new) or 'order'}"
        if self.field in _SHOWN:
            return f"{label}: {_show(self.built)} -> {_show(self.planned)}"
        return f"{label} differs"


_LABELS = {
    "subject": "subject",
    "sans": "SANs",
    "ca": "CA flag",
    "key_usage": "keyUsage",
    "extended_key_usage": "extendedKeyUsage",
    "extensions": "other extensions (.cnf)",
    "key": "key type",
    "days": "validity (-days)",
    "signer": "signing CA",
    "signer_subject": "signing CA's subject",
    "files": "file names",
    "contents": "file contents",
    "commands": "commands",
    KEY_DIGEST: "key file (replaced since it was signed)",
    SIGNER_KEY_DIGEST: "signing CA's key (the CA was replaced)",
}
_SHOWN = {"subject", "sans", "ca", "key_usage", "extended_key_usage", "key", "days", "signer"}


def label(name: str) -> str:
    """A record field as the messages name it."""
    return _LABELS.get(name, name)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    if value is None:
        return "none"
    return str(value)


def differences(built: Mapping[str, Any], now: Mapping[str, Any]) -> list[FieldChange]:
    """Field by field, what differs ([] when nothing does or nothing was recorded)."""
    if not built:
        return []
    keys = [k for k in now if k not in (MADE, "kind")]
    return [FieldChange(k, built[k], now[k]) for k in keys if k in built and built[k] != now[k]]


def hint(step: Step, changes: Iterable[FieldChange]) -> str:
    """The flag that rebuilds a changed step: the least that fixes every changed field."""
    fields = {c.field for c in changes}
    if not isinstance(step, CertStep):
        if isinstance(step, KeyPairStep) and fields & {"key", KEY_DIGEST}:
            return "use --force --new-keys to make a new key pair"
        return "use --force to write it again"
    if step.is_ca:
        if fields == {"days"}:
            return f"use 'renew {step.name}' for the new validity"
        return "use --replace-ca to make a new CA (it invalidates every certificate it signed)"
    if "key" in fields:
        return "use --force --new-keys to re-issue with a new key"
    if fields == {"days"}:
        return f"use 'renew {step.name}' or --force to re-issue"
    return "use --force to re-issue"


# ----- schema 1 (.kpki/state.json): hashes of rendered text -----


def _v1_planned(step: Step) -> Record:
    """What schema 1 recorded for this step, computed from today's plan (its exact rules)."""
    files = _generated(step)
    argv = "\n".join(" ".join(a.argv) for a in step.actions if isinstance(a, Command))
    if not isinstance(step, CertStep):
        return {"contents": digest(files), "commands": digest(argv)}
    spec = step.spec
    return {
        "subject": spec.subject_text,
        "sans": sorted(spec.sans.entries()),
        "extensions": digest(files),
        "key": f"{spec.key.type} {spec.key.size}",
        "days": spec.days,
        "signer": spec.ca or "",
    }


# schema-1 field -> the schema-2 fields it vouches for
_V1_COVERS = {
    "subject": ("subject",),
    "sans": ("sans",),
    "extensions": ("ca", "key_usage", "extended_key_usage", "extensions"),
    "key": ("key",),
    "days": ("days",),
    "signer": ("signer", "signer_subject"),
    "contents": ("contents", "commands"),
}


_V1_PLAIN = ("subject", "sans", "days", "signer")


def migrate_v1(old: Mapping[str, Any], step: Step) -> Record:
    """A schema-1 record as schema 2. Where the old hash matches what today's plan hashes to,
    the plan's fields are what was built; where it does not, the field is UNKNOWN, which is
    reported as changed (the old record cannot say what it was). Schema 1 wrote 'ecdsa 2048'
    whatever the curve; the runner compares the key type with the key file itself anyway."""
    now = planned(step)
    then = _v1_planned(step)
    out: Record = dict(now)
    for v1_field, covered in _V1_COVERS.items():
        if v1_field in old and old[v1_field] != then.get(v1_field):
            for name in covered:
                if name in out:
                    out[name] = UNKNOWN
            if v1_field in _V1_PLAIN:  # schema 1 kept the value itself, not a hash
                out[v1_field] = old[v1_field]
    for name in (KEY_DIGEST, SIGNER_KEY_DIGEST):
        if name in old:
            out[name] = old[name]
    return out
