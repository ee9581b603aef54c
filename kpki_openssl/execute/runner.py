"""Running a plan in an output folder: which steps run, in what order, and what the run did.

`Runner.run` checks that every input and program is there, holds the folder (folder.py), takes a
read-only snapshot of it and decides every step (snapshot.py, decide.py), then hands the steps to
the scheduler (scheduler.py): up to --jobs steps run at once, each in its own staging folder
(staging.py), with its progress lines and command-log entries held in its StepRecord. The
scheduler hands the steps back in plan order, and only then are a step's lines shown, its log
entries appended (command_log.py) and its files installed (install.py). So the log and the
progress read as in a one-at-a-time run, the log explains every file in DIR before it is there,
and a step signed by a CA starts only once the CA's files are in DIR and on disk. `renew`
re-signs built certificates one at a time the same way; `preview` and `decide` say what `run`
would do and write nothing.

An existing key is never regenerated (unless --new-keys, or --replace-ca for a CA), a built
certificate is never re-issued without --force, and a step whose recipe fields changed is
reported field by field with the flag that fixes it (decide.py).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from kpki_openssl.base import openssl_version, processes
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.execute import (
    command_log,
    folder,
    install,
    produced,
    record_store,
    renew_inputs,
    scheduler,
    snapshot,
    staging,
)
from kpki_openssl.execute.decide import (
    Changed,
    Decision,
    RunOptions,
    Snapshot,
    ca_files,
    decide_all,
)
from kpki_openssl.plan.steps import CertStep, Command, Plan, RenewStep, Step

__all__ = ["Changed", "Decision", "Progress", "RunOptions", "RunResult", "Runner"]

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
    saved: dict[str, str] = field(default_factory=dict)  # replaced CA -> folder of its old files

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
            "saved": self.saved,
            "exit_code": self.exit_code,
        }


@dataclass
class StepRecord:
    """One step of a run, done by a worker and held until the scheduler hands it back in plan
    order: its progress lines, command-log entries and results, and its staged files."""

    name: str
    result: RunResult = field(default_factory=RunResult)
    lines: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    staged: staging.Staged | None = None  # checked files waiting to be installed
    replaces_ca: bool = False
    error: KpkiError | None = None


class Runner:
    """Runs plans in one output folder."""

    def __init__(
        self,
        out: Path,
        report: Report | None = None,
        options: RunOptions | None = None,
        invocation: str = "",
    ) -> None:
        self.out = Path(out)
        self._report = report or (lambda _msg: None)
        self.options = options or RunOptions()
        self.invocation = invocation
        self.meta = folder.meta_dir(self.out)
        self.log = command_log.CommandLog(self.out)

    # ----- what run would do -----

    def preview(self, plan: Plan) -> list[tuple[Step, Decision]]:
        """What `run` would do with each step in this folder (for dry-run; a step it would
        refuse is decided "refuse", with the reason); writes nothing."""
        snap = snapshot.take(self.out, self.meta, plan, settle=False)
        decisions = decide_all(plan, snap, self.options, preview=True)
        return [(step, decisions[step.name]) for step in plan.steps]

    def decide(self, step: Step) -> Decision:
        """The decision `run STEP` would make for this one step now (for the walkthrough)."""
        plan = Plan("", {}, (step,))
        snap = snapshot.take(self.out, self.meta, plan, settle=False)
        return decide_all(plan, snap, self.options)[step.name]

    # ----- run -----

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
        check_inputs(self.out, plan, makers or {})
        check_programs(plan)
        result = RunResult()
        with self._session(result, plan) as (installer, folders):
            snap = snapshot.take(self.out, self.meta, plan)
            decisions = decide_all(plan, snap, self.options)
            result.saved.update(self._save_cas(plan, decisions, snap))  # before anything else
            keys = dict.fromkeys(p for s in plan.steps for p in s.key_files if snap.is_file(p))
            for path, mode in install.fix_key_modes(self.out, keys):
                self._report(
                    f"mode  {path}: was {mode:04o}, now 0600 (a key is never readable by others)"
                )
                self.log.note(f"{path}: mode {mode:04o} made 0600 (a private key)")
            replacing = dict(snap.replacing)
            for step in plan.steps:
                if decisions[step.name].replaces_ca and step.name not in replacing:
                    replacing[step.name] = _key_digest(snap, step)
            if replacing != dict(snap.replacing):  # before any CA file changes
                record_store.save_replacing(self.meta, replacing, install.write_private)
            if jobs > 1 and self._shared_serial_files(plan):
                jobs = 1
            todo = [s for s in plan.steps if decisions[s.name].kind != "skip"]
            # a re-signed certificate keeps its build record (renew's rule): no pending one
            installer.expect([s for s in todo if not isinstance(s, RenewStep)])
            if todo:  # the checks' imports, beside the first step's commands
                threading.Thread(target=produced.preload, daemon=True).start()
            records = scheduler.run_in_order(
                plan.steps,
                lambda step: self._work(step, decisions[step.name], folders),
                jobs,
                emit=lambda step, rec: self._settle(step, rec, result, installer, folders),
                failed=lambda rec: rec.error is not None,
                started=progress.started if progress else lambda _s: None,
                finished=progress.finished if progress else lambda _s: None,
                inline=lambda step: decisions[step.name].kind == "skip",  # nothing to run
                prepare=installer.before,  # what it reads is on disk before it starts
            )
            installer.sync()  # every record committed before replacing.json goes
            failed = [rec for rec in records if rec is None or rec.error is not None]
            if replacing and not failed:  # every step signed by the new CA is re-issued
                record_store.save_replacing(self.meta, {}, install.write_private)
                result.resumed.extend(snap.replacing)
        for rec in records:
            if rec is not None and rec.error is not None:
                raise rec.error
        return result

    def _work(self, step: Step, decision: Decision, folders: staging.Folders) -> StepRecord:
        """A worker's part of one step: run its commands in its staging folder."""
        rec = StepRecord(step.name)
        try:
            self._run_step(step, decision, rec, folders)
        except KpkiError as exc:
            rec.error = exc
        return rec

    def _run_step(
        self, step: Step, decision: Decision, rec: StepRecord, folders: staging.Folders
    ) -> None:
        """Do what the decision says, holding lines and log entries in `rec`."""
        if decision.kind == "skip":
            self._skip(step, decision.change, rec)
            return
        if decision.kept:
            rec.result.kept.extend(decision.kept)
            rec.lines.append(f"keep  {', '.join(decision.kept)} (exists; a key is never replaced)")
        again = decision.kind == "again"
        rec.lines.append(f"step  {step.name}: {step.title}" + (" (again)" if again else ""))
        cert_file = step.spec.cert_file if isinstance(step, CertStep) else None
        if again and not decision.kept and cert_file:
            # a new key: drop the old certificate first, so a crash cannot leave it beside
            # a key it does not match (the step then resumes as "key without certificate")
            (self.out / cert_file).unlink()
        rec.staged = staging.stage(step, decision.actions, folders, rec.log.append)
        rec.replaces_ca = decision.replaces_ca

    def _save_cas(
        self, plan: Plan, decisions: Mapping[str, Decision], snap: Snapshot
    ) -> dict[str, str]:
        """Copy aside the files of every CA this run makes a new key for, each copy checked,
        before anything about any of them is written (a resume whose old key is still here
        included); find the copies of those an interrupted --replace-ca already replaced.
        CA name -> the folder holding its old files."""
        saved: dict[str, str] = {}
        stamp = install.stamp_now()
        for step in plan.steps:
            decision = decisions[step.name]
            if decision.back_up_ca:
                found = install.back_up_ca(self.meta, self.out, ca_files(step), stamp)
                if found is None:
                    continue
                self._report(f"save  {step.name}: the old CA's files are in {found}")
                self.log.note(f"step {step.name}: --replace-ca; the old CA's files are in {found}")
            elif decision.replaces_ca and step.name in snap.replacing and step.key_files:
                found = install.find_saved(self.meta, step.key_files[0], snap.replacing[step.name])
                if found is None:
                    continue
            else:
                continue
            saved[step.name] = str(found)
        return saved

    def _skip(self, step: Step, change: Changed | None, rec: StepRecord) -> None:
        if change is None:
            rec.result.skipped.append(step.name)
            why = ""
            if self.options.force and isinstance(step, CertStep) and step.is_ca:
                why = f" (--force re-issues leaves only: 'renew {step.name}' or --replace-ca)"
            rec.lines.append(f"skip  {step.name}: {', '.join(step.writes)} already exist{why}")
        else:
            rec.result.changed.append(change)
            rec.lines.append(f"left  {change}")

    def _settle(
        self,
        step: Step,
        rec: StepRecord,
        result: RunResult,
        installer: install.Installer,
        folders: staging.Folders,
    ) -> None:
        """In plan order: show the step's lines, log its commands, then install its files
        (the log explains every file in DIR before it is there)."""
        for line in rec.lines:
            self._report(line)
        if rec.log:
            try:
                self.log.append("".join(rec.log))
            except KpkiError as exc:  # a full disk: files the log cannot explain stay out
                rec.error = rec.error or exc
        if rec.staged is not None:
            installed = False
            try:
                if rec.error is None:
                    installer.install(step, rec.staged, with_record=not isinstance(step, RenewStep))
                    installed = True
                    rec.result.ran.append(step.name)
                    if rec.replaces_ca:
                        rec.result.replaced.append(step.name)
            except KpkiError as exc:
                rec.error = exc
            finally:
                if installed:
                    folders.give_back(rec.staged.folder)  # only input links are left in it
                else:
                    rec.staged.discard()
        for name in ("ran", "skipped", "kept", "changed", "replaced", "renewed", "discarded"):
            getattr(result, name).extend(getattr(rec.result, name))

    def _shared_serial_files(self, plan: Plan) -> list[str]:
        """Serial files (`ca.srl`) in the folder: openssl x509 -CA reads and rewrites the
        CA's serial file when it exists, so concurrent signers would race on it."""
        cas = {s.signer.cert_file for s in plan.steps if isinstance(s, CertStep) and s.signer}
        found = [str(Path(ca).with_suffix(".srl")) for ca in sorted(cas)]
        found = [p for p in found if (self.out / p).exists()]
        if found:
            self._report(
                f"note  {', '.join(found)} exists: openssl would share it between signers, "
                "so steps run one at a time"
            )
        return found

    # ----- renew -----

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
        check_inputs(self.out, todo, {}, verb="renew")
        check_programs(todo)
        renew_inputs.check_plan(todo, self.out)
        result = RunResult(skipped=unbuilt)
        for name in unbuilt:
            self._report(f"skip  {name}: not built yet (run builds it)")
        with self._session(result, todo) as (installer, folders):
            records = snapshot.take(self.out, self.meta, todo).records
            for step in todo.steps:
                self._renew_step(step, records.get(step.name), installer, folders)
                result.renewed.append(step.name)
        return result

    def _renew_step(
        self,
        step: Step,
        old: Mapping | None,
        installer: install.Installer,
        folders: staging.Folders,
    ) -> None:
        """Re-sign an existing CSR with the same CA and key: new validity, nothing else."""
        self._report(f"renew {step.name}: {step.title}")
        staged = staging.stage(step, step.actions, folders, self.log.append)
        try:
            installer.install(step, staged, with_record=False)
        except BaseException:
            staged.discard()
            raise
        folders.give_back(staged.folder)
        installer.sync()  # the files on disk before the record says they are there
        if old and isinstance(step, RenewStep):
            new = dict(old)
            new["days"] = step.spec.days
            new.update(install.observed(step, self.out))
            record_store.save(self.meta, step.name, new, install.write_private)

    # ----- the folder -----

    @contextmanager
    def _session(
        self, result: RunResult, plan: Plan
    ) -> Iterator[tuple[install.Installer, staging.Folders]]:
        """The folder held (folder.py; an existing one that holds none of the plan's files and
        no .kpki/ only with --adopt-folder), the run noted in the log, a killed run's leftovers
        discarded; yields the installer and the staging folders, whose owed syncs and idle
        folders are done with on the way out."""
        known = (p for step in plan.steps for p in (*step.writes, *step.reads))
        with folder.held(self.out, known, self.options.adopt_folder) as meta:
            if self.invocation:
                self.log.note(f"kpki-openssl {self.invocation} (pid {os.getpid()})")
            for name in folder.discard_unfinished(meta):
                result.discarded.append(name)
                self._report(f"clean {name}: discarded the unfinished work of an interrupted run")
                self.log.note(f"step {name}: discarded unfinished work of an interrupted run")
            installer = install.Installer(self.out, meta)
            folders = staging.Folders(os.path.realpath(self.out), meta)
            try:
                yield installer, folders
            finally:
                folders.close()
                installer.sync()
                installer.release()


def check_inputs(out: Path, plan: Plan, makers: Mapping[str, str], verb: str = "run") -> None:
    """Every file a step reads is in `out` or made by an earlier step of the plan."""
    made: set[str] = set()
    for step in plan.steps:
        missing = [p for p in step.reads if p not in made and not (out / p).exists()]
        if missing:
            if verb == "renew":
                hint = "; renew re-signs the CSR and .cnf a run made"
            else:
                by = sorted({makers[p] for p in missing if p in makers})
                hint = f"; run {' '.join(by)} first (or 'run all')" if by else ""
            raise KpkiError(f"step {step.name}: needs {', '.join(missing)} in {out}{hint}")
        made.update(step.writes)


_VERSION_CHECKED: set[str] = set()  # the openssl executables found new enough, this process


def check_programs(plan: Plan) -> None:
    """Every program the plan runs is on PATH, and openssl is new enough, before anything is
    written. `openssl version` is read once per process (and openssl executable)."""
    names = {a.argv[0] for s in plan.steps for a in s.actions if isinstance(a, Command)}
    for name in sorted(names):
        path = shutil.which(name)
        if path is None:
            raise KpkiError(f"{name}: not found on PATH; install it first")
        if name == "openssl" and path not in _VERSION_CHECKED:
            done = processes.run([name, "version"], timeout=processes.READ)
            if not done.ok:
                raise KpkiError(f"openssl: `openssl version` failed: {done.stderr.strip()!r}")
            openssl_version.check(done.stdout)
            _VERSION_CHECKED.add(path)


def _key_digest(snap: Snapshot, step: Step) -> str:
    keys = step.key_files
    state = snap.files.get(keys[0]) if keys else None
    return state.digest if state is not None else ""
