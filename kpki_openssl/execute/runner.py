"""The only module with side effects: it runs a plan's commands and writes its files, and runs
the read-only openssl calls of the walkthrough (`capture`, with a timeout).

Commands run as argv lists through plumbum (never a shell). Every command that ran and every file
written is appended to DIR/commands.sh, which `bash commands.sh` replays in an empty folder.

Safety, per step (one step = one certificate):
- a step runs in its own staging folder DIR/.kpki/stage/NAME.PID, where the inputs it reads
  (ca.crt, ca.key, a kept key) are symlinks; openssl runs there with exactly the logged command
  line, and only when every command succeeded are the finished files renamed into DIR (key
  first, certificate last). A killed run leaves at most a staging folder, never a half-written
  file in DIR; the next run discards the staging folder and finishes the step. Each command's
  log entry is written before any of the step's files reach DIR, so the log always explains
  every file in DIR.
Parallel runs (--jobs N, scheduler.py): up to N steps run their commands at once, each in its
own staging folder, its log entries and progress lines held back; the scheduler then hands
each finished step back in plan order, and only then are its log entries written and its files
renamed into DIR. So the log is in plan order, still explains every file in DIR, and a step
signed by a CA starts only once the CA's files are in DIR.
- an existing key is never regenerated (unless --new-keys, or --replace-ca for a CA), and a
  built certificate is never re-issued without --force; a step whose recipe fields changed is
  reported field by field with the flag that fixes it (decide.py, from a read-only snapshot of
  the folder and the build records in DIR/.kpki/record/, record_store.py).
Around the whole run: the folder is created 0700, one writer at a time holds DIR/.kpki/lock
(flock: the kernel drops it when the process dies), and the umask is 077 while openssl runs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from plumbum import local
from plumbum.commands.processes import CommandNotFound, ProcessTimedOut

from kpki_openssl.base import openssl_version, safefs, trust_store_setting
from kpki_openssl.base.errors import CommandFailed, KpkiError
from kpki_openssl.base.folder_names import LOG_NAME, META_DIR
from kpki_openssl.execute import produced, record, record_store, renew_inputs, scheduler, snapshot
from kpki_openssl.execute.decide import Changed, Decision, RunOptions, decide_all
from kpki_openssl.execute.generate import make as make_generated  # a token's secret, a time
from kpki_openssl.plan import shell_text
from kpki_openssl.plan.generated import GeneratedFile
from kpki_openssl.plan.steps import (
    PRIVATE_MODE,
    PUBLIC_MODE,
    Action,
    CertStep,
    Command,
    Plan,
    RenewStep,
    Step,
    WriteFile,
)

__all__ = ["Changed", "Decision", "RunOptions", "RunResult", "Runner", "capture", "write_file"]


LOG_HEADER = (
    shell_text.SCRIPT_PROLOGUE
    + "# Command log written by kpki_openssl: every command it ran and every file it wrote,\n"
    "# in order. Replay it in an empty folder with: bash commands.sh\n"
)

Report = Callable[[str], None]


class Progress(Protocol):
    """Told when each step starts and ends (in the order that happens), for a progress bar."""

    def started(self, step: Step) -> None: ...

    def finished(self, step: Step) -> None: ...


@dataclass
class RunResult:
    """What a run did; it knows its exit status and its JSON."""

    ran: list[str] = field(default_factory=list)  # step names run (wholly or partly)
    skipped: list[str] = field(default_factory=list)  # steps already complete and unchanged
    kept: list[str] = field(default_factory=list)  # existing keys that were kept, not remade
    changed: list[Changed] = field(default_factory=list)  # built from other inputs; left alone
    replaced: list[str] = field(default_factory=list)  # CAs replaced (--replace-ca)
    renewed: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)  # unfinished steps of a killed run
    resumed: list[str] = field(default_factory=list)  # CAs of an interrupted --replace-ca, done

    CHANGED_EXIT = 3  # the run finished, but built steps differ from the recipe (left alone)

    @property
    def exit_code(self) -> int:
        return self.CHANGED_EXIT if self.changed else 0

    def as_json(self) -> dict:
        return {
            "ran": self.ran,
            "skipped": self.skipped,
            "kept": self.kept,
            "changed": [c.as_json() for c in self.changed],
            "replaced": self.replaced,
            "renewed": self.renewed,
            "discarded": self.discarded,
            "resumed": self.resumed,
            "exit_code": self.exit_code,
        }


@dataclass
class StepRecord:
    """One step of a run, done by a worker thread and held until the scheduler hands it back
    in plan order: its progress lines, command-log entries, its own results, and the staged
    files still to be renamed into DIR (with what to record once they are there)."""

    name: str
    result: RunResult = field(default_factory=RunResult)
    lines: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    staged: tuple[Path, list[tuple[str, int]]] | None = None  # stage folder, (file, mode)
    finish: Callable[[], None] | None = None  # what _run_step does after the install
    fields: record.Record | None = None  # the build record, written as the files go in
    error: KpkiError | None = None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Runner:
    """Runs plans in one output folder."""

    def __init__(
        self,
        out: Path,
        report: Report | None = None,
        log: bool = True,
        options: RunOptions | None = None,
        invocation: str = "",
    ) -> None:
        self.out = Path(out)
        self._report = report or (lambda _msg: None)
        self.log = log
        self.options = options or RunOptions()
        self.invocation = invocation
        self.meta = self.out / META_DIR
        self._records: dict[str, record.Record] = {}
        self._checked_programs: set[str] = set()  # a walkthrough runs step after step
        self._mutex = threading.Lock()  # records and results: steps run in threads
        self._log_mutex = threading.Lock()
        self._step = threading.local()  # .record: the StepRecord a worker thread fills

    # ----- whole runs: checks, then the folder, the lock and the steps -----

    def run(
        self,
        plan: Plan,
        makers: Mapping[str, str] | None = None,
        jobs: int = 1,
        progress: Progress | None = None,
    ) -> RunResult:
        """Run the plan's steps, up to `jobs` at a time (a step waits for its CA); lines, log
        entries and results come out in plan order. `makers` maps a file to the step that
        makes it, so a step whose inputs are missing can say which step to run first."""
        self._check_inputs(plan, makers or {})
        self._check_programs(plan)
        result = RunResult()
        with self._session(result):
            snap = snapshot.take(self.out, self.meta, plan)
            self._records = dict(snap.records)
            decisions = decide_all(plan, snap, self.options)
            replacing = dict(snap.replacing)
            for step in plan.steps:
                if decisions[step.name].replaces_ca and step.name not in replacing:
                    replacing[step.name] = _key_digest(snap, step)
            if replacing != dict(snap.replacing):  # before any CA file changes
                record_store.save_replacing(self.meta, replacing, _write_meta)
            records = scheduler.run_in_order(
                plan.steps,
                lambda step: self._work(step, decisions[step.name]),
                jobs if not (jobs > 1 and self._shared_serial_files(plan)) else 1,
                emit=lambda step, rec: self._settle(step, rec, result),
                failed=lambda rec: rec.error is not None,
                started=progress.started if progress else lambda _s: None,
                finished=progress.finished if progress else lambda _s: None,
            )
            failed = [rec for rec in records if rec is None or rec.error is not None]
            if replacing and not failed:  # every step signed by the new CA is re-issued
                record_store.save_replacing(self.meta, {}, _write_meta)
                result.resumed.extend(snap.replacing)
        for rec in records:
            if rec is not None and rec.error is not None:
                raise rec.error
        return result

    def preview(self, plan: Plan) -> list[tuple[Step, Decision]]:
        """What `run` would do with each step in this folder (for dry-run); writes nothing."""
        snap = snapshot.take(self.out, self.meta, plan, settle=False)
        decisions = decide_all(plan, snap, self.options)
        return [(step, decisions[step.name]) for step in plan.steps]

    def decide(self, step: Step) -> Decision:
        """The decision `run STEP` would make for this one step now (for the walkthrough)."""
        plan = Plan("", {}, (step,))
        snap = snapshot.take(self.out, self.meta, plan, settle=False)
        return decide_all(plan, snap, self.options)[step.name]

    def report(self, message: str) -> None:
        """A progress line: held with its step's record in a step, else shown at once."""
        rec = getattr(self._step, "record", None)
        if rec is not None:
            rec.lines.append(message)
        else:
            self._report(message)

    def _work(self, step: Step, decision: Decision) -> StepRecord:
        """A worker's part of one step: run its commands in the staging folder."""
        rec = StepRecord(step.name)
        self._step.record = rec
        try:
            self._run_step(step, decision, rec)
        except KpkiError as exc:
            rec.error = exc
        finally:
            self._step.record = None
        return rec

    def _settle(self, step: Step, rec: StepRecord, result: RunResult) -> None:
        """In plan order: show the step's lines, log its commands, then rename its files into
        DIR and record them (the log explains every file in DIR before it is there)."""
        for line in rec.lines:
            self._report(line)
        if rec.log:
            try:
                self._log("".join(rec.log))
            except KpkiError as exc:  # a full disk: files the log cannot explain stay out
                rec.error = rec.error or exc
        if rec.staged is not None:
            stage, made = rec.staged
            try:
                if rec.error is None:
                    self._install(step, stage, made, rec.fields)
            except KpkiError as exc:
                rec.error = exc
            finally:
                shutil.rmtree(stage, ignore_errors=True)
        if rec.error is None and rec.finish is not None:
            rec.finish()
        for name in ("ran", "skipped", "kept", "changed", "replaced", "renewed", "discarded"):
            getattr(result, name).extend(getattr(rec.result, name))

    def _shared_serial_files(self, plan: Plan) -> list[str]:
        """Serial files (`ca.srl`) in the folder: openssl x509 -CA reads and rewrites the
        CA's serial file when it exists, so concurrent signers would race on it."""
        cas = {s.signer.cert_file for s in plan.steps if isinstance(s, CertStep) and s.signer}
        found = [str(Path(ca).with_suffix(".srl")) for ca in sorted(cas)]
        found = [p for p in found if (self.out / p).exists()]
        if found:
            self.report(
                f"note  {', '.join(found)} exists: openssl would share it between signers, "
                "so steps run one at a time"
            )
        return found

    def renew(self, plan: Plan, strict: bool = True) -> RunResult:
        """Re-sign the renew plan's certificates. Unbuilt ones are an error when named
        (`strict`), and skipped with a note for `renew all`."""
        built = [s for s in plan.steps if (self.out / s.writes[0]).exists()]
        unbuilt = [s.name for s in plan.steps if s not in built]
        if strict and unbuilt:
            raise KpkiError(
                f"renew {unbuilt[0]}: {self.out / plan.step(unbuilt[0]).writes[0]} does not "
                f"exist; renew re-signs a certificate that was built ('run {unbuilt[0]}' first)"
            )
        todo = replace(plan, steps=tuple(built))
        self._check_inputs(todo, {}, verb="renew")
        self._check_programs(todo)
        renew_inputs.check_plan(todo, self.out)
        result = RunResult(skipped=unbuilt)
        for name in unbuilt:
            self.report(f"skip  {name}: not built yet (run builds it)")
        with self._session(result):
            self._records = dict(snapshot.take(self.out, self.meta, todo).records)
            for step in todo.steps:
                self._renew_step(step, result)
        return result

    def _check_inputs(self, plan: Plan, makers: Mapping[str, str], verb: str = "run") -> None:
        made: set[str] = set()
        for step in plan.steps:
            missing = [p for p in step.reads if p not in made and not (self.out / p).exists()]
            if missing:
                if verb == "renew":
                    hint = "; renew re-signs the CSR and .cnf a run made"
                else:
                    by = sorted({makers[p] for p in missing if p in makers})
                    hint = f"; run {' '.join(by)} first (or 'run all')" if by else ""
                raise KpkiError(f"step {step.name}: needs {', '.join(missing)} in {self.out}{hint}")
            made.update(step.writes)

    def _check_programs(self, plan: Plan) -> None:
        """Every program the plan runs is on PATH (openssl new enough), before anything is
        written."""
        names = {a.argv[0] for s in plan.steps for a in s.actions if isinstance(a, Command)}
        for name in sorted(names - self._checked_programs):
            try:
                program = local[name]
            except CommandNotFound:
                raise KpkiError(f"{name}: not found on PATH; install it first") from None
            if name == "openssl":
                openssl_version.read(str(program.executable))
            self._checked_programs.add(name)

    @contextmanager
    def _session(self, result: RunResult) -> Iterator[None]:
        """The folder (0700), the lock, leftovers of a killed run cleared, umask 077."""
        safefs.check_out_folder(self.out)
        self.out.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.out, 0o700)
        safefs.own_dir(self.meta)
        with self._lock():
            old_umask = os.umask(0o077)
            try:
                safefs.own_dir(self.meta / record_store.RECORD_DIR)
                if self.invocation:
                    self._note(f"kpki-openssl {self.invocation} (pid {os.getpid()})")
                self._discard_unfinished(result)
                yield
            finally:
                os.umask(old_umask)
                with suppress(OSError):
                    (self.meta / "stage").rmdir()  # when empty: every step finished

    @contextmanager
    def _lock(self) -> Iterator[None]:
        path = self.meta / "lock"
        fd = safefs.open_file(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
                raise KpkiError(
                    f"{self.out}: another kpki-openssl (pid {holder}) is writing here; "
                    "wait for it to finish, then run again"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _discard_unfinished(self, result: RunResult) -> None:
        """Staging folders and temp files left by a killed run: never trusted, removed."""
        stage = self.meta / "stage"
        if os.path.lexists(stage) and safefs.own_dir(stage):
            for leftover in sorted(stage.iterdir()):
                name = leftover.name.rsplit(".", 1)[0].replace("%", "/")
                shutil.rmtree(leftover, ignore_errors=True)
                result.discarded.append(name)
                self.report(f"clean {name}: discarded the unfinished work of an interrupted run")
                self._note(f"step {name}: discarded unfinished work of an interrupted run")
        for folder in (self.meta, self.meta / record_store.RECORD_DIR):
            for temp in folder.glob(".*.tmp*"):
                temp.unlink(missing_ok=True)

    # ----- one step -----

    def _run_step(self, step: Step, decision: Decision, rec: StepRecord) -> None:
        """Do what the decision says: staged, logged, renamed into DIR."""
        result = rec.result
        if decision.kind == "skip":
            self._skip(step, decision.change, result)
            return
        if decision.kept:
            result.kept.extend(decision.kept)
            self.report(f"keep  {', '.join(decision.kept)} (exists; a key is never replaced)")
        again = decision.kind == "again"
        self.report(f"step  {step.name}: {step.title}" + (" (again)" if again else ""))
        cert_file = step.spec.cert_file if isinstance(step, CertStep) else None
        if decision.back_up_ca:
            self._back_up_ca(step, step.key_files, cert_file)
        if again and not decision.kept and cert_file:
            # a new key: drop the old certificate first, so a crash cannot leave it beside
            # a key it does not match (the step then resumes as "key without certificate")
            (self.out / cert_file).unlink()
        self._stage(step, list(decision.actions), rec)

        def finish() -> None:
            result.ran.append(step.name)
            if decision.replaces_ca:
                result.replaced.append(step.name)

        rec.finish = finish  # once the files are in DIR (Runner._settle)

    def _skip(self, step: Step, change: Changed | None, result: RunResult) -> None:
        if change is None:
            result.skipped.append(step.name)
            why = ""
            if self.options.force and isinstance(step, CertStep) and step.is_ca:
                why = f" (--force re-issues leaves only: 'renew {step.name}' or --replace-ca)"
            self.report(f"skip  {step.name}: {', '.join(step.writes)} already exist{why}")
        else:
            result.changed.append(change)
            self.report(f"left  {change}")

    def _renew_step(self, step: Step, result: RunResult) -> None:
        """Re-sign an existing CSR with the same CA and key: new validity, nothing else."""
        self.report(f"renew {step.name}: {step.title}")
        self._stage(step, list(step.actions), None)
        old = self._records.get(step.name)
        if old and isinstance(step, RenewStep):
            new = dict(old)
            new["days"] = step.spec.days
            new.update(self._observed(step))
            with self._mutex:
                self._records[step.name] = new
            record_store.save(self.meta, step.name, new, _write_meta)
        result.renewed.append(step.name)

    def _back_up_ca(self, step: Step, key_files: tuple[str, ...], cert_file: str | None) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        folder = safefs.own_dir(safefs.own_dir(self.meta / "replaced") / stamp)
        for path in [*key_files, *([cert_file] if cert_file else [])]:
            if (self.out / path).exists():
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.out / path, folder / path)
        self.report(f"save  {step.name}: the old CA's files are in {folder}")
        self._note(f"step {step.name}: --replace-ca; the old CA's files were copied to {folder}")

    # ----- staging: run in a private folder, then rename the finished files in -----

    def _stage(self, step: Step, actions: list[Action], rec: StepRecord | None) -> None:
        stage = safefs.own_dir(self.meta / "stage") / f"{step.name.replace('/', '%')}.{os.getpid()}"
        stage.mkdir(mode=0o700)
        held = False
        try:
            made: dict[str, int] = {}  # file -> mode, in the order first written
            for action in actions:
                if isinstance(action, Command):
                    self._link_inputs(stage, action.reads, set(made))
                    for path in action.writes:  # a file rewritten (kubectl) keeps its mode
                        secret = action.private or action.secret
                        made[path] = PRIVATE_MODE if secret else made.get(path, PUBLIC_MODE)
                else:
                    made[action.path] = min(action.mode, made.get(action.path, action.mode))
                self._run_action(step.name, action, stage)
            fields = None if isinstance(step, RenewStep) else self._fields(step, stage)
            if rec is not None:  # renamed into DIR in plan order, after the log entries
                rec.staged, rec.fields, held = (stage, list(made.items())), fields, True
                return
            self._install(step, stage, list(made.items()), fields)
        finally:
            if not held:
                shutil.rmtree(stage, ignore_errors=True)

    def _link_inputs(self, stage: Path, reads: tuple[str, ...], made: set[str]) -> None:
        for path in reads:
            if path in made or (stage / path).exists():
                continue
            _make_parent(stage, path)
            os.symlink((self.out / path).resolve(), stage / path)

    def _install(
        self,
        step: Step,
        stage: Path,
        made: list[tuple[str, int]],
        fields: record.Record | None,
    ) -> None:
        """Check the step's finished files, then rename them into DIR (synced), keys before
        certificates, between the pending build record and its commit (record_store)."""
        produced.check_step(step, stage, self.out, [path for path, _mode in made])
        if fields is not None:
            record_store.stage(self.meta, step.name, fields, _write_meta)
        safefs.install(stage, self.out, made)
        if fields is not None:
            record_store.commit(self.meta, step.name)
            with self._mutex:
                self._records[step.name] = fields

    def _run_action(self, step: str, action: Action, cwd: Path) -> None:
        when, start = _now(), time.monotonic()
        if isinstance(action, WriteFile):
            _make_parent(cwd, action.path)
            write_file(cwd / action.path, action.content, action.mode, parent_exists=True)
            self._log(shell_text.log_entry(action, step, when, 0, 0.0))
            return
        if isinstance(action, GeneratedFile):  # a secret or a time, made now (generate.py)
            _make_parent(cwd, action.path)
            write_file(cwd / action.path, make_generated(action, cwd), action.mode, True)
            self._log(shell_text.log_entry(action, step, when, 0, 0.0))
            return
        retcode, stderr = self._execute(action, cwd)
        self._log(shell_text.log_entry(action, step, when, retcode, time.monotonic() - start))
        if retcode != 0:
            raise CommandFailed(action.argv, retcode, safefs.with_disk_note(stderr, cwd))

    def _execute(self, command: Command, cwd: Path) -> tuple[int | None, str]:
        program = trust_store_setting.program(command.argv[0])  # the env the script's prologue sets
        for path in command.writes:
            _make_parent(cwd, path)
        retcode, stdout, stderr = program[command.argv[1:]].run(retcode=None, cwd=str(cwd))
        if command.stdout and retcode == 0:  # `> FILE`: what it printed is the file
            write_file(cwd / command.stdout, stdout, PRIVATE_MODE, parent_exists=True)
        return retcode, stderr

    # ----- records, log -----

    def _observed(self, step: Step, stage: Path | None = None) -> record.Record:
        """What the runner sees of a step's files: its key, its signer's key, each file made
        (from the staging folder when given, else from DIR)."""
        out: record.Record = {}
        keys = step.key_files
        if keys:
            found = _file_digest(stage / keys[0] if stage else None, self.out / keys[0])
            if found:
                out[record.KEY_DIGEST] = found
        signer_key = step.signer_key_file if isinstance(step, CertStep) else None
        if signer_key and (self.out / signer_key).is_file():
            out[record.SIGNER_KEY_DIGEST] = record.digest((self.out / signer_key).read_bytes())
        out[record.MADE] = {
            p: _file_digest(stage / p if stage else None, self.out / p) for p in step.writes
        }
        return out

    def _fields(self, step: Step, stage: Path) -> record.Record:
        """The build record of a step about to be installed: the plan's fields, and what the
        staging folder (or DIR, for what the step kept) holds."""
        fields = record.planned(step)
        fields.update(self._observed(step, stage))
        return fields

    def _note(self, text: str) -> None:
        self._log(f"# {_now()} {text}\n")

    def _log(self, entry: str) -> None:
        """Append one entry with a single write, so a killed run never leaves half an entry.
        Inside a step of a run, the entry waits in the step's record (Runner._settle)."""
        rec = getattr(self._step, "record", None)
        if rec is not None:
            rec.log.append(entry)
            return
        if not self.log:
            return
        with self._log_mutex:
            safefs.append_whole(self.out / LOG_NAME, entry.encode(), LOG_HEADER.encode())


def _write_meta(path: Path, text: str) -> None:
    write_file(path, text, PRIVATE_MODE, parent_exists=True)


def _file_digest(first: Path | None, second: Path) -> str:
    """The digest of `first` when it is a file, else of `second` ('' when neither is)."""
    for path in (first, second):
        if path is not None and path.is_file():
            return record.digest(path.read_bytes())
    return ""


def _key_digest(snap, step: Step) -> str:
    keys = step.key_files
    state = snap.files.get(keys[0]) if keys else None
    return state.digest if state is not None else ""


def _make_parent(folder: Path, path: str) -> None:
    """The folders of a plan path (`sub/admin.crt`) under `folder`, which exists: a plain file
    name needs none, and a run of 400 steps would otherwise ask for the folder 2,500 times."""
    if "/" in path:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Captured:
    """What a read-only command printed, and its exit status."""

    retcode: int | None
    stdout: str
    stderr: str


def capture(argv: tuple[str, ...], cwd: Path | None = None, stdin: str | None = None) -> Captured:
    """Run a read-only command (openssl x509/pkey/verify) and keep its output.

    Used by the walkthrough; argv lists through plumbum, never a shell.
    """
    try:
        program = trust_store_setting.program(argv[0])
    except CommandNotFound:
        raise KpkiError(f"{argv[0]}: not found on PATH; install it first") from None
    bound = program[argv[1:]]
    if stdin is not None:
        bound = bound << stdin
    try:
        retcode, stdout, stderr = bound.run(
            retcode=None, cwd=str(cwd) if cwd else None, timeout=CAPTURE_TIMEOUT
        )
    except ProcessTimedOut:
        raise KpkiError(
            f"{shell_text.argv_text(argv)}: no answer in {CAPTURE_TIMEOUT:.0f} s"
        ) from None
    return Captured(retcode, stdout, stderr)


CAPTURE_TIMEOUT = 120.0  # seconds: a read-only openssl call takes milliseconds


def write_file(path: Path, content: str, mode: int, parent_exists: bool = False) -> None:
    """Write a whole file under a temporary name, fsync'ed, then rename: never a half-written
    file (safefs.write_file; a failure names the file)."""
    safefs.write_file(path, content, mode, parent_exists)
