"""The output folder while a run writes to it: made 0700, held by one writer at a time, the umask
077, and what a killed run left behind cleared before anything else.

One writer: DIR/.kpki/lock is held with flock, which the kernel drops when the process dies, so a
killed run never leaves a stale lock; a second writer is refused naming the first one's pid.
What a killed run leaves: staging folders (DIR/.kpki/stage/NAME.PID, and idle ones named
`.idle...`, see staging.py) and temporary files of whole-file writes (`.NAME.tmpPID`); none is
ever trusted, all are removed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from kpki_openssl.base import safefs
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.base.folder_names import META_DIR
from kpki_openssl.execute import record_store

LOCK_NAME = "lock"
STAGE_DIR = "stage"
REPLACED_DIR = "replaced"  # DIR/.kpki/replaced/STAMP/: the files of CAs --replace-ca replaced


def meta_dir(out: Path) -> Path:
    """DIR/.kpki, the tool's bookkeeping folder."""
    return Path(out) / META_DIR


@contextmanager
def held(out: Path, known: Iterable[str] = (), adopt: bool = False) -> Iterator[Path]:
    """The folder made (0700; its missing parents 0755 less the umask) and locked for this
    process, the umask 077 meanwhile; yields DIR/.kpki. An existing folder holding files that
    is not ours (no .kpki/, none of `known`) is refused unless `adopt`, before anything is
    changed. On leaving, the staging folder is removed when every step finished (empty)."""
    safefs.check_out_folder(out)
    safefs.check_ours(out, known, adopt)
    safefs.make_parents(out.parent)
    out.mkdir(exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)
    meta = safefs.own_dir(meta_dir(out))
    with _lock(out, meta):
        old_umask = os.umask(0o077)
        try:
            safefs.own_dir(meta / record_store.RECORD_DIR)
            yield meta
        finally:
            os.umask(old_umask)
            with suppress(OSError):
                (meta / STAGE_DIR).rmdir()  # when empty: every step finished


@contextmanager
def _lock(out: Path, meta: Path) -> Iterator[None]:
    fd = safefs.open_file(meta / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
            raise KpkiError(
                f"{out}: another kpki-openssl (pid {holder}) is writing here; "
                "wait for it to finish, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def make_stage_root(meta: Path) -> None:
    """DIR/.kpki/stage, where the steps are staged (a link or another's folder is refused)."""
    safefs.own_dir(meta / STAGE_DIR)


def stage_folder(meta: Path, step: str) -> Path:
    """Where a step is staged by this process: DIR/.kpki/stage/NAME.PID ('/' in NAME as '%')."""
    return meta / STAGE_DIR / f"{step.replace('/', '%')}.{os.getpid()}"


def discard_unfinished(meta: Path) -> list[str]:
    """Remove the staging folders and temporary files a killed run left (never trusted); the
    names of the steps whose unfinished work was discarded, in name order."""
    discarded = []
    stage = meta / STAGE_DIR
    if os.path.lexists(stage) and safefs.own_dir(stage):
        for leftover in sorted(stage.iterdir()):
            shutil.rmtree(leftover, ignore_errors=True)
            if not leftover.name.startswith("."):  # an idle folder held no step's work
                discarded.append(leftover.name.rsplit(".", 1)[0].replace("%", "/"))
    for folder in (meta, meta / record_store.RECORD_DIR):
        for temp in folder.glob(".*.tmp*"):
            temp.unlink(missing_ok=True)
    replaced = meta / REPLACED_DIR  # a copy of an old CA's file cut short by the kill
    if replaced.is_dir() and not replaced.is_symlink():
        for temp in replaced.glob("*/**/.*.tmp*"):
            if temp.is_file() and not temp.is_symlink():
                temp.unlink()
    return discarded
