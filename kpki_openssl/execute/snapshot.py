"""A read-only look at the output folder, for the decisions (decide.py): what is at each path
the plan uses, what each key is, and what the build records say. Links are never followed."""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from pathlib import Path

from kpki_openssl.execute import record, record_store
from kpki_openssl.execute.decide import FileState, Snapshot
from kpki_openssl.plan.certlist import key_facts, key_words
from kpki_openssl.plan.steps import CertStep, Plan

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n(.*?)\n-----END \1-----\s*$", re.DOTALL)


def pem_complete(data: bytes, label_suffix: str) -> bool:
    """A whole PEM block (BEGIN ... END, base64 between) whose label ends as expected."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    match = _PEM.search(text)
    if match is None or not match.group(1).endswith(label_suffix):
        return False
    try:
        base64.b64decode("".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def key_kind(data: bytes) -> str:
    """A PEM private key in the recipe's words (KeySpec.words; '' when it cannot be read)."""
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - cryptography is a dependency
        return ""
    try:
        key = load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        return ""
    facts = key_facts(key)
    return key_words(*facts) if facts[0] in ("RSA", "EC", "Ed25519") else ""


def _state(full: Path, is_key: bool) -> FileState | None:
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return FileState("link")
    if stat.S_ISDIR(info.st_mode):
        return FileState("dir")
    if not stat.S_ISREG(info.st_mode):
        return FileState("other")
    if not is_key:
        return FileState("file")
    data = full.read_bytes()
    pem = pem_complete(data, "PRIVATE KEY")
    return FileState("file", record.digest(data), pem, key_kind(data) if pem else "")


def take(out: Path, meta: Path, plan: Plan, settle: bool = True) -> Snapshot:
    """The snapshot of every path the plan writes or reads, and the plan's build records
    (`settle`: a run settles the records a killed run left pending; a dry run does not)."""
    keys: set[str] = set()
    paths: dict[str, None] = {}
    for step in plan.steps:
        keys.update(step.key_files)
        if isinstance(step, CertStep) and step.signer_key_file:
            keys.add(step.signer_key_file)
        paths.update(dict.fromkeys((*step.writes, *step.reads)))
    paths.update(dict.fromkeys(keys))
    files: dict[str, FileState] = {}
    for path in paths:
        found = _state(out / path, path in keys)
        if found is not None:
            files[path] = found

    def digest_of(path: str) -> str:
        state = files.get(path)
        if state is not None and state.digest:
            return state.digest
        full = out / path
        return record.digest(full.read_bytes()) if full.is_file() else ""

    records = record_store.load(meta, plan.steps, digest_of, settle) if meta.is_dir() else {}
    replacing = record_store.load_replacing(meta) if meta.is_dir() else {}
    return Snapshot(files=files, records=records, replacing=replacing)
