"""A step's private staging folder, where its actions run: nothing reaches DIR from here.

The folder is DIR/.kpki/stage/NAME.PID (one per step running at a time, reused from step to
step: Folders). The inputs a command reads (ca.crt, ca.key, a kept key) are symbolic links to
the files in DIR; openssl runs there with exactly the logged command line (an argv list through
base/processes.py, never a shell), and the files the tool writes itself are written there
whole. install.py checks what the actions made and renames it into DIR. A killed run leaves at
most these folders, which the next run discards (folder.discard_unfinished).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kpki_openssl.base import processes, safefs
from kpki_openssl.base.errors import CommandFailed
from kpki_openssl.execute import command_log, folder
from kpki_openssl.execute.generate import make as make_generated
from kpki_openssl.plan import shell_text
from kpki_openssl.plan.generated import GeneratedFile
from kpki_openssl.plan.steps import PRIVATE_MODE, PUBLIC_MODE, Action, Command, Step

Log = Callable[[str], None]  # takes one command-log entry
IDLE = ".idle"  # an idle folder's name starts with it: no step's name can (recipe/validate.py)


class Folders:
    """The staging folders of one run. There is one per step running at a time, reused from
    step to step: taken, it is renamed to the step it holds and emptied of all but the input
    links that step reads too (a leaf's links to its CA); given back once the step's files are
    in DIR, it is renamed idle. Making and removing a folder a step costs more than the rest of
    the step's bookkeeping on some file systems. Thread-safe."""

    def __init__(self, out: str, meta: Path) -> None:
        self.out = out  # DIR as an absolute path without links: the inputs' links point into it
        self.meta = meta
        self._idle: list[Path] = []
        self._made = 0  # idle folders named so far
        self._root = False  # DIR/.kpki/stage made (by the first step staged)
        self._mutex = threading.Lock()

    def take(self, step: Step, actions: Iterable[Action]) -> Path:
        """A folder for `step`, named for it (DIR/.kpki/stage/NAME.PID), holding at most links
        to the inputs `actions` read and do not write."""
        where = folder.stage_folder(self.meta, step.name)
        with self._mutex:
            idle = self._idle.pop() if self._idle else None
            if not self._root:
                folder.make_stage_root(self.meta)
                self._root = True
        if idle is None:
            where.mkdir(mode=0o700)
            return where
        os.rename(idle, where)
        reads: set[str] = set()
        writes: set[str] = set()
        for action in actions:
            if isinstance(action, Command):
                reads.update(action.reads)
                writes.update(action.writes)
            else:
                writes.add(action.path)
        keep = {path: os.path.join(self.out, path) for path in reads - writes if "/" not in path}
        with os.scandir(where) as entries:
            for entry in entries:
                if entry.is_symlink() and keep.get(entry.name) == os.readlink(entry.path):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        return where

    def give_back(self, where: Path) -> None:
        """The step whose folder this is has its files in DIR: the folder is idle again."""
        with self._mutex:
            self._made += 1
            idle = where.with_name(f"{IDLE}.{os.getpid()}.{self._made}")
        os.rename(where, idle)
        with self._mutex:
            self._idle.append(idle)

    def close(self) -> None:
        """Remove the idle folders (at the end of the run)."""
        with self._mutex:
            idle, self._idle = self._idle, []
        for where in idle:
            shutil.rmtree(where, ignore_errors=True)


@dataclass
class Staged:
    """What a step's actions made, waiting in its staging folder: (path, mode) in the order
    the files were first written (keys before certificates)."""

    folder: Path
    made: list[tuple[str, int]]

    def discard(self) -> None:
        """Remove the folder and what is left in it (the step failed or was not installed)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def stage(step: Step, actions: Iterable[Action], folders: Folders, log: Log) -> Staged:
    """Run `actions` of `step` in a staging folder, each logged through `log` as it ends; the
    folder is removed when one fails."""
    actions = tuple(actions)
    where = folders.take(step, actions)
    try:
        made: dict[str, int] = {}  # file -> mode, in the order first written
        for action in actions:
            if isinstance(action, Command):
                _link_inputs(where, folders.out, action.reads, made)
                for path in action.writes:  # a file rewritten (kubectl) keeps its mode
                    secret = action.private or action.secret
                    made[path] = PRIVATE_MODE if secret else made.get(path, PUBLIC_MODE)
                _run(step.name, action, where, log)
            elif isinstance(action, GeneratedFile):  # a secret or a time, made now
                made[action.path] = min(action.mode, made.get(action.path, action.mode))
                _generate(step.name, action, where, log)
            else:
                made[action.path] = min(action.mode, made.get(action.path, action.mode))
                _write(step.name, action, where, log)
        return Staged(where, list(made.items()))
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise


def _link_inputs(where: Path, out: str, reads: tuple[str, ...], made: dict[str, int]) -> None:
    for path in reads:
        if path in made or (where / path).exists():
            continue
        _make_parent(where, path)
        os.symlink(os.path.join(out, path), where / path)


def _write(step: str, action: Action, where: Path, log: Log) -> None:
    """A file the tool writes itself (a .cnf, a kubeconfig, a flags file), whole; no sync: it
    is synced once, as it is renamed into DIR (install.py)."""
    _make_parent(where, action.path)
    safefs.write_new(where / action.path, action.content, action.mode)
    log(shell_text.log_entry(action, step, command_log.now(), 0, 0.0))


def _generate(step: str, action: GeneratedFile, where: Path, log: Log) -> None:
    """A file whose content is made when the step runs (a token's secret: execute/generate.py),
    never shown: the log holds only what made it."""
    _make_parent(where, action.path)
    safefs.write_new(where / action.path, make_generated(action, where), action.mode)
    log(shell_text.log_entry(action, step, command_log.now(), 0, 0.0))


def _run(step: str, command: Command, where: Path, log: Log) -> None:
    """One command in the staging folder, with the environment the script's prologue sets."""
    when, start = command_log.now(), time.monotonic()
    for path in command.writes:
        _make_parent(where, path)
    try:
        done = processes.run(command.argv, timeout=processes.MAKE, cwd=where)
    except processes.TimedOut:  # killed (SIGKILL) after the timeout: on record as such
        log(shell_text.log_entry(command, step, when, -9, time.monotonic() - start))
        raise
    log(shell_text.log_entry(command, step, when, done.returncode, time.monotonic() - start))
    if done.returncode != 0:
        raise CommandFailed(
            command.argv, done.returncode, safefs.with_disk_note(done.stderr, where)
        )
    if command.stdout:  # `> FILE`: what it printed is the file
        _make_parent(where, command.stdout)
        safefs.write_new(where / command.stdout, done.stdout, PRIVATE_MODE)


def _make_parent(where: Path, path: str) -> None:
    """The folders of a plan path (`sub/admin.crt`) under `where`, which exists: a plain file
    name needs none, and a run of 400 steps would otherwise ask for the folder 2,500 times."""
    if "/" in path:
        (where / path).parent.mkdir(parents=True, exist_ok=True)
