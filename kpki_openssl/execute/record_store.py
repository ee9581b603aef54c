"""Where the build records live: DIR/.kpki/record/NAME.json, one small file per step.

A step's record is written whole before its files are renamed into DIR (as NAME.json.new) and
renamed over NAME.json once they are all there. A run killed in between leaves the .new file;
the next run keeps it when the files in DIR are the ones it describes, and drops it otherwise.
So a kill can never make a step look changed, and no record is lost because a run wrote them in
batches. Folders of schema 1 (.kpki/state.json) are read through record.migrate_v1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import quote

from kpki_openssl.execute import record
from kpki_openssl.plan.steps import Step

RECORD_DIR = "record"
V1_STATE = "state.json"
REPLACING = "replacing.json"  # CAs of a --replace-ca that has not finished: name -> old key
Write = Callable[[Path, str], None]  # writes a bookkeeping file whole (install.write_private)


def _path(meta: Path, name: str, suffix: str = ".json") -> Path:
    return meta / RECORD_DIR / (quote(name, safe="") + suffix)


def _read_json(path: Path) -> object:
    """The JSON in a file, or None when it is missing or not JSON (a record we cannot read says
    nothing: the step is then compared on what the folder itself shows). Never through a link,
    never blocking on a FIFO (safefs)."""
    from kpki_openssl.base import safefs

    return safefs.read_json(path)


def _fields(data: object) -> record.Record | None:
    if isinstance(data, dict) and data.get("schema") == record.SCHEMA:
        fields = data.get("fields")
        if isinstance(fields, dict):
            return fields
    return None


def load(
    meta: Path, steps: Iterable[Step], digest_of: Callable[[str], str], settle: bool = True
) -> dict[str, record.Record]:
    """The records of these steps. `digest_of(path)` gives the digest of a file now in DIR
    ('' when missing), to settle a record a killed run left pending: kept (renamed over the
    record) when DIR holds the files it describes, else dropped. `settle=False` (the dry run)
    decides the same in memory and writes nothing."""
    out: dict[str, record.Record] = {}
    v1: dict | None = None
    for step in steps:
        pending = _path(meta, step.name, ".json.new")
        fields = None
        if pending.exists():
            fields = _fields(_read_json(pending))
            made = fields.get(record.MADE) if fields else None
            good = isinstance(made, dict) and bool(made)
            good = good and all(digest_of(p) == d for p, d in made.items())
            if not good:
                fields = None
            if settle and good:
                os.replace(pending, _path(meta, step.name))
            elif settle:
                pending.unlink(missing_ok=True)
        if fields is None:
            fields = _fields(_read_json(_path(meta, step.name)))
        if fields is None:
            if v1 is None:
                v1 = _v1_steps(meta)
            old = v1.get(step.name)
            if isinstance(old, dict):
                fields = record.migrate_v1(old, step)
        if fields is not None:
            out[step.name] = fields
    return out


def _v1_steps(meta: Path) -> dict:
    from kpki_openssl.base import safefs

    return safefs.read_state(meta / V1_STATE)


def text(name: str, fields: record.Record) -> str:
    return json.dumps({"schema": record.SCHEMA, "step": name, "fields": fields}, sort_keys=True)


def pending_path(meta: Path, name: str) -> Path:
    """Where a step's pending record is written (NAME.json.new)."""
    return _path(meta, name, ".json.new")


def stage(meta: Path, name: str, fields: record.Record, write: Write) -> Path:
    """Write the record as pending (before the step's files reach DIR); returns its path."""
    path = pending_path(meta, name)
    write(path, text(name, fields) + "\n")
    return path


def commit(meta: Path, name: str) -> None:
    """The step's files are all in DIR: its pending record becomes its record."""
    os.replace(_path(meta, name, ".json.new"), _path(meta, name))


def save(meta: Path, name: str, fields: record.Record, write: Write) -> None:
    """Write a record at once (renew, migration)."""
    write(_path(meta, name), text(name, fields) + "\n")


def load_replacing(meta: Path) -> dict[str, str]:
    data = _read_json(meta / REPLACING)
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def save_replacing(meta: Path, cas: dict[str, str], write: Write) -> None:
    if cas:
        write(meta / REPLACING, json.dumps(cas, sort_keys=True) + "\n")
    else:
        (meta / REPLACING).unlink(missing_ok=True)
