"""Moving a step's staged files into DIR, checked and with its build record, so that a crash at
any moment (a kill, or the power) leaves either the old state or the new one.

For each step: each file it made must be what it should be (produced.py: openssl can exit 0 on
a full disk and leave an empty file); its build record is written as pending
(DIR/.kpki/record/NAME.json.new); the files and the pending record are fsync'ed, all at once
(safefs.sync_together), with the record folder when the pending record's entry is new; only
then are the files renamed into DIR, keys before certificates. The record becomes the step's
record (commit) only once the folders holding the renamed files are synced, so a record never
says built before the files are on disk; a crash before the commit leaves the pending record,
which the next run keeps when DIR holds the files it describes and drops otherwise
(record_store.py).

Syncs are batched where the order allows it. The pending records of the steps a run expects
to install are made empty ahead, RESERVE at a time, with one sync of their folder; a step then
syncs its record's data only (an empty one does not parse: a crash leaves nothing trusted).
`sync` syncs every folder that received files since the last one (one fsync each, however
many steps renamed into it), then commits the records waiting for it; the orchestration calls
it before a step that reads what an unsynced step made starts (a leaf after its CA) and at the
end of the run, so no step is ever built on files not yet on disk. So a step costs one fsync
per file it made, plus one for its record.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from kpki_openssl.base import safefs
from kpki_openssl.execute import produced, record, record_store
from kpki_openssl.execute.folder import REPLACED_DIR
from kpki_openssl.execute.staging import Staged
from kpki_openssl.plan.steps import PRIVATE_MODE, CertStep, Step

RESERVE = 64  # pending records made (and their folder synced) at a time


class Installer:
    """Installs the staged steps of one run into DIR and keeps the batch of folder syncs and
    record commits still owed."""

    def __init__(self, out: Path, meta: Path) -> None:
        self.out = out
        self.meta = meta
        self._folders: set[Path] = set()  # folders with renames not yet synced
        self._files: set[str] = set()  # files renamed in since the last sync
        self._steps: set[str] = set()  # steps installed since the last sync
        self._pending: list[str] = []  # steps whose record waits for the sync
        self._expected: list[str] = []  # the steps this run installs, in plan order
        self._position: dict[str, int] = {}  # where each is in _expected
        self._made: set[str] = set()  # those whose pending record was made ahead
        self._reserved: set[str] = set()  # ... and is still empty, on disk

    def expect(self, steps: Iterable[Step]) -> None:
        """The steps this run will install (decided build or again), in plan order: their
        pending records are made ahead (`before`)."""
        self._expected = [step.name for step in steps]
        self._position = {name: i for i, name in enumerate(self._expected)}

    def install(self, step: Step, staged: Staged, with_record: bool = True) -> None:
        """Check the step's staged files (produced.py), then rename them into DIR, between its
        pending record and (at the next `sync`) its commit; `with_record=False` writes no
        record (renew writes its own)."""
        produced.check_step(step, staged.folder, self.out, [path for path, _ in staged.made])
        safefs.set_modes(staged.folder, staged.made)
        files = [staged.folder / path for path, _mode in staged.made]
        folders = []
        if with_record:
            fields = record.planned(step)
            fields.update(observed(step, self.out, staged.folder))
            if step.name in self._reserved:  # its entry is on disk: only its data to sync
                self._reserved.discard(step.name)
                pending = record_store.stage(self.meta, step.name, fields, overwrite_pending)
            else:
                pending = record_store.stage(self.meta, step.name, fields, write_pending)
                folders.append(pending.parent)
            files.append(pending)
        safefs.sync_together(files, folders)  # each file, and the pending record's entry
        self._folders |= safefs.rename_into(staged.folder, self.out, staged.made)
        self._files.update(path for path, _mode in staged.made)
        self._steps.add(step.name)
        if with_record:
            self._pending.append(step.name)

    def before(self, step: Step) -> None:
        """Called before `step` starts: sync first when it reads what an unsynced step made;
        make its pending record, and those of the next expected steps, when it has none."""
        if self._steps and (
            not self._files.isdisjoint(step.reads) or not self._steps.isdisjoint(step.needs)
        ):
            self.sync()
        if step.name in self._position and step.name not in self._made:
            self._reserve(self._position[step.name])

    def _reserve(self, start: int) -> None:
        """Make empty pending records for the expected step at `start` and the next ones, up to
        RESERVE, then sync their folder once: installing one then syncs its data only. An empty
        or torn pending record does not parse, and the next run drops it (record_store.load)."""
        names = [n for n in self._expected[start : start + RESERVE] if n not in self._made]
        self._made.update(names)
        for name in names:
            safefs.write_new(record_store.pending_path(self.meta, name), b"", PRIVATE_MODE)
        safefs.sync_together([], [self.meta / record_store.RECORD_DIR])
        self._reserved.update(names)

    def release(self) -> None:
        """Remove the pending records made for steps that were not installed (at the end)."""
        for name in sorted(self._reserved):
            record_store.pending_path(self.meta, name).unlink(missing_ok=True)
        self._reserved.clear()

    def sync(self) -> None:
        """Sync the folders that received files, then commit the records waiting for that."""
        safefs.sync_together([], sorted(self._folders))
        for name in self._pending:
            record_store.commit(self.meta, name)
        self._folders.clear()
        self._files.clear()
        self._steps.clear()
        self._pending.clear()


def observed(step: Step, out: Path, stage: Path | None = None) -> record.Record:
    """What the runner sees of a step's files: its key, its signer's key, each file made
    (from the staging folder when given, else from DIR)."""
    found: record.Record = {}
    keys = step.key_files
    if keys:
        digest = _file_digest(stage / keys[0] if stage else None, out / keys[0])
        if digest:
            found[record.KEY_DIGEST] = digest
    signer_key = step.signer_key_file if isinstance(step, CertStep) else None
    if signer_key and (out / signer_key).is_file():
        found[record.SIGNER_KEY_DIGEST] = record.digest((out / signer_key).read_bytes())
    found[record.MADE] = {
        p: _file_digest(stage / p if stage else None, out / p) for p in step.writes
    }
    return found


def back_up_ca(meta: Path, out: Path, files: Sequence[str], stamp: str) -> Path | None:
    """Copy a CA's files that are in DIR to DIR/.kpki/replaced/STAMP/, each read back and
    compared and synced with its folders, before anything about the CA is written; a copy
    already there whose files are these bytes (a resumed run) is used instead. The folder
    holding the copies (None: none of the files exist); WriteFailed when a copy cannot be
    made whole (a full disk): the partial copy is removed and the CA is left as it is."""
    present = {p: safefs.read_bookkeeping(out / p) for p in files}  # a read error stops it
    present = {p: data for p, data in present.items() if data is not None}
    if not present:
        return None
    key = present.get(files[0])
    found = find_saved(meta, files[0], record.digest(key)) if key is not None else None
    if found is not None and all(_read_own(found / p) == data for p, data in present.items()):
        return found
    root = safefs.own_dir(meta / REPLACED_DIR)
    folder = root / stamp
    made = not folder.exists()
    safefs.own_dir(folder)
    try:
        for path, data in present.items():
            for _attempt in range(2):  # a copy that does not read back the same is made again
                (folder / path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                safefs.write_file(folder / path, data, PRIVATE_MODE, parent_exists=True)
                if _read_own(folder / path) == data:
                    break
            else:
                raise safefs.WriteFailed(
                    f"{folder / path}: the copy of {path} does not read back as written; "
                    "the CA was not replaced"
                )
        safefs.sync_together([], sorted({(folder / p).parent for p in present} | {root, meta}))
    except BaseException:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def find_saved(meta: Path, path: str, digest: str) -> Path | None:
    """The folder under DIR/.kpki/replaced/ holding a copy of `path` with this digest."""
    root = meta / REPLACED_DIR
    if not digest or not root.is_dir() or root.is_symlink():
        return None
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.is_symlink():
            data = _read_own(folder / path)
            if data is not None and record.digest(data) == digest:
                return folder
    return None


def fix_key_modes(out: Path, paths: Iterable[str]) -> list[tuple[str, int]]:
    """The plan's existing key files that the group or others may read, made 0600 (opened
    without following a link; only regular files of ours): (path, the mode it had) each."""
    fixed = []
    for path in paths:
        try:
            fd = os.open(out / path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and mode & 0o077:
                os.fchmod(fd, PRIVATE_MODE)
                fixed.append((path, mode))
        finally:
            os.close(fd)
    return fixed


def stamp_now() -> str:
    """The name of a folder of copies under DIR/.kpki/replaced/ (UTC, to the microsecond)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def _read_own(path: Path) -> bytes | None:
    """A regular file's bytes, never through a link (None: missing, or not a regular file)."""
    try:
        return safefs.read_bookkeeping(path)
    except (safefs.UnsafePath, safefs.WriteFailed, NotADirectoryError):
        return None


def overwrite_pending(path: Path, text: str) -> None:
    """A pending build record over its empty reservation; `install` syncs it with the step's
    files."""
    safefs.overwrite(path, text)


def write_pending(path: Path, text: str) -> None:
    """A pending build record, written in place; `install` syncs it with the step's files (a
    torn one does not parse, and the next run drops it: record_store.load)."""
    safefs.write_new(path, text, PRIVATE_MODE)


def write_private(path: Path, text: str) -> None:
    """A bookkeeping file (a build record, replacing.json): whole, synced, mode 0600."""
    safefs.write_file(path, text, PRIVATE_MODE, parent_exists=True)


def _file_digest(first: Path | None, second: Path) -> str:
    """The digest of `first` when it is a file, else of `second` ('' when neither is)."""
    for path in (first, second):
        if path is not None and path.is_file():
            return record.digest(path.read_bytes())
    return ""
