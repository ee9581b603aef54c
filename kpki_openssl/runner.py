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
  built certificate is never re-issued without --force; a certificate whose inputs changed is
  reported with the reasons (DIR/.kpki/state.json records what each step was built from).
Around the whole run: the folder is created 0700, one writer at a time holds DIR/.kpki/lock
(flock: the kernel drops it when the process dies), and the umask is 077 while openssl runs.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from plumbum import local
from plumbum.commands.processes import CommandNotFound, ProcessTimedOut

from kpki_openssl import openssl_version, record, scheduler, shell, trust_store
from kpki_openssl.errors import CommandFailed, KpkiError
from kpki_openssl.plan import PRIVATE_MODE, PUBLIC_MODE, Action, Command, Plan, Step, WriteFile

LOG_NAME = "commands.sh"
META_DIR = ".kpki"  # lock, state.json, stage/, replaced/: the tool's own bookkeeping
LOG_HEADER = (
    shell.SCRIPT_PROLOGUE
    + "# Command log written by kpki_openssl: every command it ran and every file it wrote,\n"
    "# in order. Replay it in an empty folder with: bash commands.sh\n"
)
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n(.*?)\n-----END \1-----\s*$", re.DOTALL)

Report = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    """What a run may replace: nothing by default."""

    force: bool = False  # re-issue built leaf certificates (their keys kept)
    new_keys: bool = False  # with force: new leaf keys too
    replace_ca: bool = False  # a new CA key and certificate; re-issues what it signed


@dataclass
class Changed:
    step: str
    reasons: list[str]
    hint: str

    def __str__(self) -> str:
        return f"changed: {self.step} ({', '.join(self.reasons)}) — {self.hint}"


@dataclass(frozen=True)
class Decision:
    """What one step needs: "skip" (built; `change` says how it differs from the plan, if it
    does), "build" (not built: `actions` are what is missing) or "again" (built, re-issued)."""

    kind: str
    actions: tuple[Action, ...] = ()
    kept: tuple[str, ...] = ()  # existing keys the actions use instead of making new ones
    replace_ca: bool = False  # a built CA replaced: its old files are copied aside first
    change: Changed | None = None


class Progress(Protocol):
    """Told when each step starts and ends (in the order that happens), for a progress bar."""

    def started(self, step: Step) -> None: ...

    def finished(self, step: Step) -> None: ...


@dataclass
class RunResult:
    ran: list[str] = field(default_factory=list)  # step names run (wholly or partly)
    skipped: list[str] = field(default_factory=list)  # steps already complete and unchanged
    kept: list[str] = field(default_factory=list)  # existing keys that were kept, not remade
    changed: list[Changed] = field(default_factory=list)  # built from other inputs; left alone
    replaced: list[str] = field(default_factory=list)  # CAs replaced (--replace-ca)
    renewed: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)  # unfinished steps of a killed run


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
        self._state: dict[str, dict] = {}
        self._rebuilt: set[str] = set()  # built steps made again in this run
        self._mutex = threading.Lock()  # state and result, if steps ever run in threads
        self._log_mutex = threading.Lock()
        self._step = threading.local()  # .record: the StepRecord a worker thread fills
        self._state_saved_at: float | None = None  # set while a run batches state saves
        self._state_dirty = False

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
            if jobs > 1 and self._shared_serial_files(plan):
                jobs = 1
            self._state_saved_at = time.monotonic()
            try:
                records = scheduler.run_in_order(
                    plan.steps,
                    self._work,
                    jobs,
                    emit=lambda step, rec: self._settle(step, rec, result),
                    failed=lambda rec: rec.error is not None,
                    started=progress.started if progress else lambda _s: None,
                    finished=progress.finished if progress else lambda _s: None,
                )
            finally:
                self._state_saved_at = None
                if self._state_dirty:
                    self._save_state(now=True)
        for rec in records:
            if rec is not None and rec.error is not None:
                raise rec.error
        return result

    def report(self, message: str) -> None:
        """A progress line: held with its step's record in a step, else shown at once."""
        rec = getattr(self._step, "record", None)
        if rec is not None:
            rec.lines.append(message)
        else:
            self._report(message)

    def _work(self, step: Step) -> StepRecord:
        """A worker's part of one step: decide, run its commands in the staging folder."""
        rec = StepRecord(step.name)
        self._step.record = rec
        try:
            self._run_step(step, rec.result)
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
            self._log("".join(rec.log))
        if rec.staged is not None:
            stage, made = rec.staged
            try:
                if rec.error is None:
                    self._install(step, stage, made)
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
        todo = Plan(plan.recipe, plan.values, tuple(built), plan.certs)
        self._check_inputs(todo, {}, verb="renew")
        self._check_programs(todo)
        result = RunResult(skipped=unbuilt)
        for name in unbuilt:
            self.report(f"skip  {name}: not built yet (run builds it)")
        with self._session(result):
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
        for name in sorted(names):
            try:
                program = local[name]
            except CommandNotFound:
                raise KpkiError(f"{name}: not found on PATH; install it first") from None
            if name == "openssl":
                retcode, stdout, stderr = program["version"].run(retcode=None)
                if retcode != 0:
                    raise KpkiError(f"openssl: `openssl version` failed: {stderr.strip()!r}")
                openssl_version.check(stdout)

    @contextmanager
    def _session(self, result: RunResult) -> Iterator[None]:
        """The folder (0700), the lock, leftovers of a killed run cleared, umask 077."""
        self.out.mkdir(parents=True, exist_ok=True)
        os.chmod(self.out, 0o700)
        self.meta.mkdir(exist_ok=True)
        os.chmod(self.meta, 0o700)
        with self._lock():
            old_umask = os.umask(0o077)
            try:
                if self.invocation:
                    self._note(f"kpki-openssl {self.invocation} (pid {os.getpid()})")
                self._discard_unfinished(result)
                self._state = self._load_state()
                yield
            finally:
                os.umask(old_umask)
                with suppress(OSError):
                    (self.meta / "stage").rmdir()  # when empty: every step finished

    @contextmanager
    def _lock(self) -> Iterator[None]:
        path = self.meta / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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
        if stage.is_dir():
            for leftover in sorted(stage.iterdir()):
                name = leftover.name.rsplit(".", 1)[0].replace("%", "/")
                shutil.rmtree(leftover, ignore_errors=True)
                result.discarded.append(name)
                self.report(f"clean {name}: discarded the unfinished work of an interrupted run")
                self._note(f"step {name}: discarded unfinished work of an interrupted run")
        for temp in self.meta.glob(".*.tmp*"):
            temp.unlink(missing_ok=True)

    # ----- one step -----

    def decide(self, step: Step) -> Decision:
        """What one step needs in this folder: nothing, the rest of it, all of it again, or a
        report that it differs from the plan. Reads files only; writes nothing."""
        key_files = _key_files(step)
        is_ca = step.cert is not None and step.cert.is_ca
        replace = is_ca and self.options.replace_ca
        forced = (
            replace or (self.options.force and not is_ca) or bool(set(step.needs) & self._rebuilt)
        )
        built = self._built(step)
        if built and not forced:
            return Decision("skip", change=self._change(step, key_files))
        new_key = replace or (forced and self.options.new_keys and not is_ca)
        kept = tuple(p for p in key_files if not new_key and self._usable_key(step, p))
        actions = tuple(
            a
            for a in step.actions
            if not (isinstance(a, Command) and a.private and set(a.writes) <= set(kept))
        )
        return Decision("again" if built else "build", actions, kept, replace and built)

    def _run_step(self, step: Step, result: RunResult) -> None:
        """Decide what one step needs, then do it: staged, logged, renamed into DIR."""
        decision = self.decide(step)
        if decision.kind == "skip":
            self._skip(step, decision.change, result)
            return
        if decision.kept:
            with self._mutex:
                result.kept.extend(decision.kept)
            self.report(f"keep  {', '.join(decision.kept)} (exists; a key is never replaced)")
        again = decision.kind == "again"
        self.report(f"step  {step.name}: {step.title}" + (" (again)" if again else ""))
        cert_file = _cert_file(step)
        if decision.replace_ca:
            self._back_up_ca(step, _key_files(step), cert_file)
        if again and not decision.kept and cert_file:
            # a new key: drop the old certificate first, so a crash cannot leave it beside
            # a key it does not match (the step then resumes as "key without certificate")
            (self.out / cert_file).unlink()
        self._stage(step, list(decision.actions))

        def finish() -> None:
            self._remember(step, list(decision.kept))
            with self._mutex:
                result.ran.append(step.name)
                if again:  # what embeds or is signed by it is made again too
                    self._rebuilt.add(step.name)
                if step.cert is not None and step.cert.is_ca and self.options.replace_ca:
                    self._rebuilt.add(step.name)
                    result.replaced.append(step.name)

        rec = getattr(self._step, "record", None)
        if rec is not None:
            rec.finish = finish  # once the files are in DIR (Runner._settle)
        else:
            finish()

    def preview(self, plan: Plan) -> list[tuple[Step, Decision]]:
        """What `run` would do with each step in this folder (for dry-run); writes nothing."""
        self._state = self._load_state()
        out = []
        for step in plan.steps:
            decision = self.decide(step)
            if decision.kind == "again" or (
                step.cert is not None and step.cert.is_ca and self.options.replace_ca
            ):
                self._rebuilt.add(step.name)
            out.append((step, decision))
        return out

    def _built(self, step: Step) -> bool:
        """A certificate step is built when its certificate exists (its key, CSR and .cnf may
        be missing); any other step (a kubeconfig, a configuration file) when all its files do."""
        cert_file = _cert_file(step)
        if cert_file is not None:
            return (self.out / cert_file).exists()
        return bool(step.writes) and all((self.out / p).exists() for p in step.writes)

    def _change(self, step: Step, key_files: list[str]) -> Changed | None:
        """How a built step differs from the plan (None: it does not, or nothing was recorded)."""
        missing = [p for p in key_files if not (self.out / p).exists()]
        if missing:
            hint = (
                "use --replace-ca to make a new CA"
                if step.cert is not None and step.cert.is_ca
                else "use --force --new-keys to re-issue with a new key"
            )
            return Changed(step.name, [f"{', '.join(missing)} is missing"], hint)
        reasons = record.differences(self._state.get(step.name, {}), self._current(step))
        return Changed(step.name, reasons, record.hint(step, reasons)) if reasons else None

    def _skip(self, step: Step, change: Changed | None, result: RunResult) -> None:
        with self._mutex:
            if change is None:
                result.skipped.append(step.name)
            else:
                result.changed.append(change)
        if change is None:
            why = ""
            if self.options.force and step.cert is not None and step.cert.is_ca:
                why = f" (--force re-issues leaves only: 'renew {step.name}' or --replace-ca)"
            self.report(f"skip  {step.name}: {', '.join(step.writes)} already exist{why}")
        else:
            self.report(f"left  {change}")

    def _renew_step(self, step: Step, result: RunResult) -> None:
        """Re-sign an existing CSR with the same CA and key: new validity, nothing else."""
        self.report(f"renew {step.name}: {step.title}")
        self._stage(step, list(step.actions))
        with self._mutex:
            old = self._state.get(step.name)
            if old and step.cert is not None:
                now = self._current(step)
                # the new validity; the build commands (with their old -days) are no longer
                # what made this certificate, so they are not compared any more
                old.update(days=now.get("days"), signer_key=now.get("signer_key"), commands=None)
                self._save_state()
            result.renewed.append(step.name)

    def _usable_key(self, step: Step, path: str) -> bool:
        """An existing key to keep. One that is not a whole PEM key is refused, not replaced."""
        full = self.out / path
        if not full.exists():
            return False
        if not _pem_complete(full, "PRIVATE KEY"):
            raise KpkiError(
                f"step {step.name}: {full} exists but is not a complete PEM private key; "
                "it is never overwritten: move it away to make a new one"
            )
        return True

    def _back_up_ca(self, step: Step, key_files: list[str], cert_file: str | None) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        folder = self.meta / "replaced" / stamp
        folder.mkdir(parents=True, mode=0o700)
        for path in [*key_files, *([cert_file] if cert_file else [])]:
            if (self.out / path).exists():
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.out / path, folder / path)
        self.report(f"save  {step.name}: the old CA's files are in {folder}")
        self._note(f"step {step.name}: --replace-ca; the old CA's files were copied to {folder}")

    # ----- staging: run in a private folder, then rename the finished files in -----

    def _stage(self, step: Step, actions: list[Action]) -> None:
        stage = self.meta / "stage" / f"{step.name.replace('/', '%')}.{os.getpid()}"
        stage.mkdir(parents=True, mode=0o700)
        held = False
        try:
            made: dict[str, int] = {}  # file -> mode, in the order first written
            for action in actions:
                if isinstance(action, Command):
                    self._link_inputs(stage, action.reads, set(made))
                    for path in action.writes:  # a file rewritten (kubectl) keeps its mode
                        made[path] = PRIVATE_MODE if action.private else made.get(path, PUBLIC_MODE)
                else:
                    made[action.path] = min(action.mode, made.get(action.path, action.mode))
                self._run_action(step.name, action, stage)
            rec = getattr(self._step, "record", None)
            if rec is not None:  # renamed into DIR in plan order, after the log entries
                rec.staged, held = (stage, list(made.items())), True
                return
            self._install(step, stage, list(made.items()))
        finally:
            if not held:
                shutil.rmtree(stage, ignore_errors=True)

    def _link_inputs(self, stage: Path, reads: tuple[str, ...], made: set[str]) -> None:
        for path in reads:
            if path in made or (stage / path).exists():
                continue
            _make_parent(stage, path)
            os.symlink((self.out / path).resolve(), stage / path)

    def _install(self, step: Step, stage: Path, made: list[tuple[str, int]]) -> None:
        """Rename the step's finished files into DIR, keys before certificates."""
        for path, _mode in made:
            if not (stage / path).is_file():
                raise KpkiError(f"step {step.name}: its commands exited 0 but did not write {path}")
        for path, mode in made:
            os.chmod(stage / path, mode)
            _make_parent(self.out, path)
            os.replace(stage / path, self.out / path)

    def _run_action(self, step: str, action: Action, cwd: Path) -> None:
        when, start = _now(), time.monotonic()
        if isinstance(action, WriteFile):
            _make_parent(cwd, action.path)
            write_file(cwd / action.path, action.content, action.mode, parent_exists=True)
            self._log(shell.log_entry(action, step, when, 0, 0.0))
            return
        retcode, stderr = self._execute(action, cwd)
        self._log(shell.log_entry(action, step, when, retcode, time.monotonic() - start))
        if retcode != 0:
            raise CommandFailed(action.argv, retcode, stderr)

    def _execute(self, command: Command, cwd: Path) -> tuple[int | None, str]:
        program = trust_store.program(command.argv[0])  # the env the script's prologue sets
        for path in command.writes:
            _make_parent(cwd, path)
        retcode, _stdout, stderr = program[command.argv[1:]].run(retcode=None, cwd=str(cwd))
        return retcode, stderr

    # ----- records, log -----

    def _current(self, step: Step) -> dict:
        """The plan's record for the step, with hashes of the key files now in DIR."""
        now = record.planned(step)
        keys = _key_files(step)
        if keys and (self.out / keys[0]).exists():
            now["key_file"] = record.digest((self.out / keys[0]).read_bytes())
        ca_key = _signer_key_file(step)
        if ca_key and (self.out / ca_key).exists():
            now["signer_key"] = record.digest((self.out / ca_key).read_bytes())
        return now

    def _remember(self, step: Step, kept: list[str]) -> None:
        now = self._current(step)
        with self._mutex:
            old = self._state.get(step.name, {})
            if kept and "key" in old:
                now["key"] = old["key"]  # the kept key is what it was, whatever the plan says
            self._state[step.name] = now
            self._save_state()

    def _load_state(self) -> dict[str, dict]:
        path = self.meta / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        steps = data.get("steps") if isinstance(data, dict) else None
        return steps if isinstance(steps, dict) else {}

    def _save_state(self, now: bool = False) -> None:
        """state.json rewritten whole; during a run at most once a second (and at its end), so
        a run of thousands of steps does not rewrite a growing file thousands of times. A run
        killed in between loses only records, which make change detection say less."""
        if self._state_saved_at is not None and not now:
            self._state_dirty = True
            if time.monotonic() - self._state_saved_at < 1.0:
                return
        self._state_dirty = False
        if self._state_saved_at is not None:
            self._state_saved_at = time.monotonic()
        text = json.dumps({"version": 1, "steps": self._state}, indent=1, sort_keys=True)
        write_file(self.meta / "state.json", text + "\n", PRIVATE_MODE)

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
            fd = os.open(self.out / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                head = LOG_HEADER if os.fstat(fd).st_size == 0 else ""
                os.write(fd, (head + entry).encode("utf-8"))
            finally:
                os.close(fd)


def _make_parent(folder: Path, path: str) -> None:
    """The folders of a plan path (`sub/admin.crt`) under `folder`, which exists: a plain file
    name needs none, and a run of 400 steps would otherwise ask for the folder 2,500 times."""
    if "/" in path:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)


def _key_files(step: Step) -> list[str]:
    return [p for a in step.actions if isinstance(a, Command) and a.private for p in a.writes]


def _cert_file(step: Step) -> str | None:
    return step.cert.cert_file if step.cert is not None else None


def _signer_key_file(step: Step) -> str | None:
    """The signing CA's key file, as named in the step's x509 command (-CAkey)."""
    for action in step.actions:
        if isinstance(action, Command) and "-CAkey" in action.argv:
            return action.argv[action.argv.index("-CAkey") + 1]
    return None


def _pem_complete(path: Path, label_suffix: str) -> bool:
    """A whole PEM block (BEGIN ... END, base64 between) whose label ends as expected."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return False
    match = _PEM.search(text)
    if match is None or not match.group(1).endswith(label_suffix):
        return False
    try:
        base64.b64decode("".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


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
        program = trust_store.program(argv[0])
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
        raise KpkiError(f"{shell.argv_text(argv)}: no answer in {CAPTURE_TIMEOUT:.0f} s") from None
    return Captured(retcode, stdout, stderr)


CAPTURE_TIMEOUT = 120.0  # seconds: a read-only openssl call takes milliseconds


def write_file(path: Path, content: str, mode: int, parent_exists: bool = False) -> None:
    """Write a whole file under a temporary name, then rename: never a half-written file."""
    if not parent_exists:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
