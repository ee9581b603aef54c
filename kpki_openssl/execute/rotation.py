"""Run one stage of a CA rotation: its plan through the Runner (staged, logged, renamed into
the folder like every run), then, after remove, the build records of the CA and the leaves it
signs brought up to date (the new CA now holds the recipe's file names) and the rotation's
own files removed, logged as the `rm` a person would type."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from kpki_openssl.base import safefs
from kpki_openssl.base.folder_names import LOG_NAME, META_DIR
from kpki_openssl.execute import record, record_store
from kpki_openssl.execute.command_log import LOG_HEADER
from kpki_openssl.execute.decide import RunOptions
from kpki_openssl.execute.runner import Report, Runner, RunResult
from kpki_openssl.plan import rotation
from kpki_openssl.plan.shell_text import argv_text
from kpki_openssl.plan.steps import CertStep, KeyPairStep, Plan


def run_stage(
    out: Path, full: Plan, stage: rotation.Stage, report: Report, invocation: str = ""
) -> RunResult:
    """Every step of the stage is made (again): a re-run after a kill finishes it. The new CA's
    key is never made twice: the Runner keeps a built CA."""
    result = stage_runner(out, report, invocation).run(stage.plan)
    finish_stage(out, full, stage, report)
    return result


def stage_runner(out: Path, report: Report, invocation: str = "") -> Runner:
    """The Runner a stage's steps run through (one plan, or a step at a time): every step made
    again, a built CA's key kept."""
    return Runner(out, report=report, options=RunOptions(force=True), invocation=invocation)


def finish_stage(out: Path, full: Plan, stage: rotation.Stage, report: Report) -> None:
    """After every step of the stage has run: after remove, the build records brought up to
    date and the rotation's own files removed; nothing after trust or switch."""
    if stage.stage != "remove":
        return
    if isinstance(stage.files, rotation.KeyFiles):
        _settle_key_record(out, full, stage.files)
    else:
        _settle_records(out, full, stage.files)
    _clean(out, stage.ca, stage.files, report)


def _settle_key_record(out: Path, full: Plan, files: rotation.KeyFiles) -> None:
    """The key pair's record holds the digests of the files now under its names."""
    meta = out / META_DIR
    steps = [s for s in full.steps if isinstance(s, KeyPairStep) and s.name == files.pair.name]
    records = record_store.load(meta, steps, lambda _p: "")
    for name, fields in records.items():
        new = dict(fields)
        if record.KEY_DIGEST in new:
            new[record.KEY_DIGEST] = record.digest((out / files.pair.key_file).read_bytes())
        _remade(out, new)
        if new != fields:
            record_store.save(meta, name, new, _write_meta)


def _settle_records(out: Path, full: Plan, files: rotation.Files) -> None:
    """The CA's record holds the new key's digest, each leaf's its signer's."""
    meta = out / META_DIR
    steps = [s for s in full.steps if isinstance(s, CertStep)]
    ca_key = out / files.ca.key_file
    wanted = [files.ca.name, *(s.name for s in rotation.leaves(full, files.ca.name))]
    records = record_store.load(meta, [s for s in steps if s.name in wanted], lambda _p: "")
    key_digest = record.digest(ca_key.read_bytes())
    for name, fields in records.items():
        new = dict(fields)
        if name == files.ca.name:
            new[record.KEY_DIGEST] = key_digest
        else:
            new[record.SIGNER_KEY_DIGEST] = key_digest
        _remade(out, new)
        if new != fields:
            record_store.save(meta, name, new, _write_meta)


def _remade(out: Path, fields: dict) -> None:
    """A record's digests of the files its step made, taken again from the folder (a file
    no longer there keeps the digest it had)."""
    made = fields.get(record.MADE)
    if isinstance(made, dict):
        fields[record.MADE] = {
            p: record.digest((out / p).read_bytes()) if (out / p).is_file() else d
            for p, d in made.items()
        }


def _clean(out: Path, name: str, files: rotation.Files | rotation.KeyFiles, report: Report) -> None:
    """The rotation's files, now copies or leftovers, removed (logged first), in the order
    rotation.own_files gives."""
    gone = [p for p in rotation.own_files(files) if os.path.lexists(out / p)]
    if not gone:
        return
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    argv = ("rm", "-f", "--", *gone)
    entry = f"# {when} rotate-ca {name} remove: the rotation's own files\n"
    safefs.append_whole(
        out / LOG_NAME, (entry + argv_text(argv) + "\n").encode(), LOG_HEADER.encode()
    )
    for path in gone:
        (out / path).unlink(missing_ok=True)
    report(f"rm    {' '.join(gone)}")


def _write_meta(path: Path, text: str) -> None:
    safefs.write_file(path, text, 0o600, parent_exists=True)
