"""The only module with side effects: it runs a plan's commands and writes its files, and runs
the read-only openssl calls of verify, inspect and check-expiration (`capture`).

Commands run as argv lists through plumbum (never a shell) with the output folder as working
directory, so relative names match the log. Every command that ran and every file written is
appended to DIR/commands.sh, which `bash commands.sh` replays in an empty folder.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from plumbum import local
from plumbum.commands.processes import CommandNotFound

from kpki_openssl import scheduler, shell
from kpki_openssl.errors import CommandFailed, KpkiError
from kpki_openssl.plan import PRIVATE_MODE, Action, Command, Plan, Step, WriteFile

LOG_NAME = "commands.sh"
LOG_HEADER = (
    shell.SCRIPT_PROLOGUE
    + "# Command log written by kpki_openssl: every command it ran and every file it wrote,\n"
    "# in order. Replay it in an empty folder with: bash commands.sh\n"
)

Report = Callable[[str], None]


@dataclass
class StepRecord:
    """What one step did, kept until the scheduler hands it back in plan order: its progress
    lines, its command-log entries, and the error that stopped it (if any)."""

    name: str
    skipped: bool = False
    kept: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    error: KpkiError | None = None


class Progress(Protocol):
    """Told when each step starts and ends (in the order that happens), for a progress bar."""

    def started(self, step: Step) -> None: ...

    def finished(self, step: Step) -> None: ...


@dataclass
class RunResult:
    ran: list[str] = field(default_factory=list)  # step names run (wholly or partly)
    skipped: list[str] = field(default_factory=list)  # steps whose files all existed
    kept: list[str] = field(default_factory=list)  # existing keys that were kept, not remade


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Runner:
    """Runs plans in one output folder."""

    def __init__(self, out: Path, report: Report | None = None, log: bool = True) -> None:
        self.out = Path(out)
        self.report = report or (lambda _msg: None)
        self.log = log

    def run(
        self,
        plan: Plan,
        makers: Mapping[str, str] | None = None,
        jobs: int = 1,
        progress: Progress | None = None,
    ) -> RunResult:
        """Run the plan's steps, up to `jobs` at a time (a step waits for its CA); lines and
        log entries come out in plan order. `makers` maps a file to the step that makes it,
        so a step whose inputs are missing can say which step to run first."""
        self._check_inputs(plan, makers or {})
        self._check_programs(plan)
        self.out.mkdir(parents=True, exist_ok=True)
        os.chmod(self.out, 0o700)
        if jobs > 1 and self._shared_serial_files(plan):
            jobs = 1
        records = scheduler.run_in_order(
            plan.steps,
            self.run_step,
            jobs,
            emit=self._emit,
            failed=lambda record: record.error is not None,
            started=progress.started if progress else lambda _s: None,
            finished=progress.finished if progress else lambda _s: None,
        )
        result = RunResult()
        for record in records:
            if record is None:
                continue
            if record.error is not None:
                raise record.error
            (result.skipped if record.skipped else result.ran).append(record.name)
            result.kept.extend(record.kept)
        return result

    def run_step(self, step: Step) -> StepRecord:
        """One step, start to end; safe to call from several threads for different steps."""
        record = StepRecord(step.name)
        try:
            self._run_step(step, record)
        except KpkiError as exc:
            record.error = exc
        return record

    def _emit(self, step: Step, record: StepRecord) -> None:
        for line in record.lines:
            self.report(line)
        if record.log:
            self._log("".join(record.log))

    def _shared_serial_files(self, plan: Plan) -> list[str]:
        """Serial files (`ca.srl`) in the folder: openssl x509 -CA reads and rewrites the
        CA's serial file when it exists, so concurrent signers would race on it."""
        cas = {
            a.argv[a.argv.index("-CA") + 1]
            for s in plan.steps
            for a in s.actions
            if isinstance(a, Command) and "-CA" in a.argv
        }
        found = [str(Path(ca).with_suffix(".srl")) for ca in sorted(cas)]
        found = [p for p in found if (self.out / p).exists()]
        if found:
            self.report(
                f"note  {', '.join(found)} exists: openssl would share it between signers, "
                "so steps run one at a time"
            )
        return found

    def _check_inputs(self, plan: Plan, makers: Mapping[str, str]) -> None:
        made: set[str] = set()
        for step in plan.steps:
            missing = [p for p in step.reads if p not in made and not (self.out / p).exists()]
            if missing:
                by = sorted({makers[p] for p in missing if p in makers})
                hint = f"; run {' '.join(by)} first (or 'run all')" if by else ""
                raise KpkiError(f"step {step.name}: needs {', '.join(missing)} in {self.out}{hint}")
            made.update(step.writes)

    def _check_programs(self, plan: Plan) -> None:
        """Every program the plan runs is on PATH, before anything is written."""
        names = {a.argv[0] for s in plan.steps for a in s.actions if isinstance(a, Command)}
        for name in sorted(names):
            try:
                local[name]
            except CommandNotFound:
                raise KpkiError(f"{name}: not found on PATH; install it first") from None

    def _run_step(self, step: Step, record: StepRecord) -> None:
        if step.writes and all((self.out / p).exists() for p in step.writes):
            record.skipped = True
            record.lines.append(f"skip  {step.name}: {', '.join(step.writes)} already exist")
            return
        record.lines.append(f"step  {step.name}: {step.title}")
        for action in step.actions:
            if (
                isinstance(action, Command)
                and action.private
                and action.writes
                and all((self.out / p).exists() for p in action.writes)
            ):
                record.kept.extend(action.writes)
                record.lines.append(
                    f"keep  {', '.join(action.writes)} (exists; a key is never replaced)"
                )
                continue
            self._run_action(step.name, action, record)

    def _run_action(self, step: str, action: Action, record: StepRecord) -> None:
        when, start = _now(), time.monotonic()
        if isinstance(action, WriteFile):
            write_file(self.out / action.path, action.content, action.mode)
            record.log.append(shell.log_entry(action, step, when, 0, 0.0))
            return
        retcode, stderr = self._execute(action)
        record.log.append(shell.log_entry(action, step, when, retcode, time.monotonic() - start))
        if retcode != 0:
            raise CommandFailed(action.argv, retcode, stderr)
        if action.private:
            for path in action.writes:
                os.chmod(self.out / path, PRIVATE_MODE)

    def _execute(self, command: Command) -> tuple[int | None, str]:
        program = local[command.argv[0]]
        for path in command.writes:
            (self.out / path).parent.mkdir(parents=True, exist_ok=True)
        retcode, _stdout, stderr = program[command.argv[1:]].run(retcode=None, cwd=str(self.out))
        return retcode, stderr

    def _log(self, entry: str) -> None:
        if not self.log:
            return
        path = self.out / LOG_NAME
        new = not path.exists()
        with open(path, "a", encoding="utf-8") as fh:
            if new:
                fh.write(LOG_HEADER)
            fh.write(entry)


@dataclass(frozen=True)
class Captured:
    """What a read-only command printed, and its exit status."""

    retcode: int | None
    stdout: str
    stderr: str


def capture(argv: tuple[str, ...], cwd: Path | None = None, stdin: str | None = None) -> Captured:
    """Run a read-only command (openssl x509/pkey/verify) and keep its output.

    Used by verify, inspect and check-expiration; argv lists through plumbum, never a shell.
    """
    try:
        program = local[argv[0]]
    except CommandNotFound:
        raise KpkiError(f"{argv[0]}: not found on PATH; install it first") from None
    bound = program[argv[1:]]
    if stdin is not None:
        bound = bound << stdin
    retcode, stdout, stderr = bound.run(retcode=None, cwd=str(cwd) if cwd else None)
    return Captured(retcode, stdout, stderr)


def write_file(path: Path, content: str, mode: int) -> None:
    """Write a whole file under a temporary name, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
