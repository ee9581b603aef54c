"""The plan, one step at a time: why, where it departs from the document, the exact commands and
what their flags mean; then (on Enter) run them, show what appeared, and wait again before the
next step, so the result stays on the screen.

Every page fits the terminal it runs in (screen.Pager): a step too tall for one page shows what
and why first, then its commands, each page headed by the step's title; a page still too tall
pages itself. After the first certificate only what differs is shown: a .cnf's sections
already on an earlier screen are named, not repeated, and a flag is glossed once. Compact mode
(the default on a short terminal) puts rows made once per node on one screen ("node02 and
node03: the same ..."), the results of a screen's steps at the top of the next one, and as many
steps on a screen as fit. Commands are folded at spaces with ` \\` for the screen only; the log
and the script keep one line.

Each step runs through the Runner (the same one-step execution as `run STEP`: logged to
commands.sh, keys kept, complete steps skipped), so a walkthrough quit halfway leaves a folder
that `run all` or another walkthrough finishes. Input is read only from a terminal, one key at
a time: with --yes, or when stdin is not a terminal, it never waits and never pages.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kpki_openssl.base import processes
from kpki_openssl.base.errors import CommandFailed, KpkiError
from kpki_openssl.base.folder_names import LOG_NAME
from kpki_openssl.execute.runner import Runner
from kpki_openssl.plan import openssl_argv, shell_text
from kpki_openssl.plan.steps import CertStep, Plan, Step, WriteFile
from kpki_openssl.teach import kinds, screen
from kpki_openssl.teach.screen import Ask, Pager, Stop
from kpki_openssl.teach.step_text import StepText

Check = Callable[[Step], "list[str]"]  # a step that ran -> one line per problem

RUN, SKIP, QUIT = "run", "skip", "quit"
NEXT, PROVE, EXPLAIN, COMMANDS = "next", "prove", "explain", "commands"
DEFAULT_WIDTH = 80

RUN_KEYS = {"s": SKIP, "e": EXPLAIN, "q": QUIT}
COMPACT_KEYS = {"s": SKIP, "e": EXPLAIN, "p": PROVE, "q": QUIT}
AFTER_KEYS = {"p": PROVE, "e": EXPLAIN, "q": QUIT}
RUN_PROMPT = "[Enter] run it · s skip · e explain · q quit > "
COMPACT_PROMPT = "[Enter] run these · s skip · e explain · p prove · q quit > "
AFTER_PROMPT = "[Enter] next step · p prove · e explain · q quit > "
COMMANDS_PROMPT = "[Enter] its commands · s skip · q quit > "


@dataclass
class WalkResult:
    ran: list[str] = field(default_factory=list)
    done_before: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    quit_at: str = ""
    screens: int = 0  # prompts answered


def choice(answer: str) -> str:
    """Before a step: run it (Enter), skip it or quit."""
    word = answer.strip().lower()
    if word in ("q", "quit", "exit"):
        return QUIT
    if word in ("s", "skip", "n", "no"):
        return SKIP
    return RUN


def after_choice(answer: str) -> str:
    """After a step's result: the next step (Enter), prove, the full explain, or quit."""
    word = answer.strip().lower()
    if word in ("q", "quit", "exit"):
        return QUIT
    if word in ("p", "prove"):
        return PROVE
    if word in ("e", "explain"):
        return EXPLAIN
    return NEXT


def terminal_width(stream: TextIO) -> int:
    """The terminal's width in columns; 80 when the stream is not a terminal."""
    from kpki_openssl.base import console

    return console.width(stream)


def wrap(text: str, width: int, indent: str = "  ", first: str | None = None) -> list[str]:
    """Prose as lines of at most `width` columns, broken only at spaces: a name such as
    system:kube-controller-manager, a flag or a path is never split."""
    return screen.prose(text, width, indent, first)


def dependents(plan: Plan, step: Step) -> list[str]:
    """Later steps that read a file this step makes, or whose generated file names one
    (a kubeconfig naming admin.crt, a flags file naming apiserver.crt)."""
    made = set(step.writes)
    names = [w.rsplit("/", 1)[-1] for w in step.writes if w.endswith((".crt", ".key", ".pub"))]
    pattern = (
        re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, names)) + r")(?![\w.-])")
        if names
        else None
    )
    out = []
    for other in plan.steps:
        if other.name == step.name:
            continue
        if made & set(other.reads):
            out.append(other.name)
            continue
        texts = [a.content for a in other.actions if isinstance(a, WriteFile)]
        if pattern and any(pattern.search(t) for t in texts):
            out.append(other.name)
    return out


def missing_inputs(plan: Plan, out: Path, makers: Mapping[str, str]) -> None:
    """Refuse, before the first screen, a named step whose inputs (its CA's files) are neither
    in the folder nor made by an earlier step of the walkthrough."""
    made: set[str] = set()
    for step in plan.steps:
        missing = [p for p in step.reads if p not in made and not (out / p).exists()]
        if missing:
            by = sorted({makers[p] for p in missing if p in makers})
            hint = f"; walk through {' '.join(by)} first (or 'kpki-openssl run all')" if by else ""
            raise KpkiError(f"step {step.name}: needs {', '.join(missing)} in {out}{hint}")
        made.update(step.writes)


@dataclass
class Seen:
    """What the learner has already seen: departures, flags, .cnf sections, a kubeconfig's
    text. Copied before a compact screen is laid out, so a step that moves on to the next
    screen is shown there as if for the first time."""

    departures: set[tuple[str, str]] = field(default_factory=set)
    flags: set[tuple[str, str]] = field(default_factory=set)
    sections: dict[str, str] = field(default_factory=dict)  # a .cnf section's text -> its file
    kubeconfig: str = ""  # the first kubeconfig shown whole
    named: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)  # a section's
    # name -> its settings and file, as last shown

    def copy(self) -> Seen:
        return Seen(set(self.departures), set(self.flags), dict(self.sections), self.kubeconfig,
                    dict(self.named))  # fmt: skip


class _Done(Exception):
    """The walk has ended, and has said so."""


class Walkthrough(StepText):
    """Drives one walkthrough; `ask` is None when it must never wait (--yes, stdin not a tty).

    `rows` is the terminal's height (None: never page); `compact` groups rows made per node
    and puts several steps on a screen; `finish` is the command that finishes the folder."""

    def __init__(
        self,
        out: Path,
        stream: TextIO,
        ask: Ask | None,
        keep_going: bool = False,
        makers: Mapping[str, str] | None = None,
        check: Check | None = None,
        full: Plan | None = None,
        width: int | None = None,
        rows: int | None = None,
        compact: bool = False,
        finish: str = "",
    ) -> None:
        self.out = out
        self.stream = stream
        self.ask = ask
        self.keep_going = keep_going
        self.makers = makers or {}
        self.check = check
        self.full = full
        self.width = width or terminal_width(stream)
        self.pager = Pager(stream, self.width, rows, ask)
        self.compact = compact
        self.finish = finish or f"kpki-openssl run all --out {out}"
        self.runner = Runner(out)
        self.seen = Seen()
        self._position: dict[str, int] = {}
        self._total = 0

    # -- output

    def say(self, text: str = "") -> None:
        self.pager.line(text)

    def prose(self, text: str, indent: str = "  ", first: str | None = None) -> None:
        self.pager.lines(screen.prose(text, self.width, indent, first))

    # -- the walk

    def walk(self, plan: Plan) -> WalkResult:
        missing_inputs(plan, self.out, self.makers)
        result = WalkResult()
        self._total = len(plan.steps)
        self._position = {s.name: i for i, s in enumerate(plan.steps, 1)}
        intro = self._intro(plan)
        if intro:
            self.prose(intro, "")
        try:
            if self.compact:
                self._walk_compact(plan, result)
            else:
                self._walk_full(plan, result)
        except _Done:  # the compact walk said why it stopped
            pass
        except Stop:  # q at a `more` prompt while results were shown
            following = next((s for s in plan.steps if self._untouched(s, result)), None)
            if following is not None:
                self._quit(result, following)
        finally:
            result.screens = self.pager.pages
        return result

    def _intro(self, plan: Plan) -> str:
        """The line before the first step: what is walked, and how the keys work."""
        mode = "compact, " if self.compact else ""
        return (
            f"Walkthrough of recipe {plan.recipe}: {self._total} steps into {self.out} "
            f"({mode}{self.keys_text()})."
        )

    def keys_text(self) -> str:
        return (
            "each key acts at once: Enter runs a step, s skips it, e explains it, q quits; "
            "after a result Enter goes on, p proves the folder with the real programs"
            if self.ask
            else "running every step"
        )

    @staticmethod
    def _untouched(step: Step, result: WalkResult) -> bool:
        done = (*result.ran, *result.done_before, *result.skipped, *result.failed)
        return step.name not in done

    def _decide(self, group: Sequence[Step], result: WalkResult) -> tuple[list[Step], list[str]]:
        """The steps of a group still to do, and a line for each one already done."""
        todo, lines = [], []
        for step in group:
            decision = self.runner.decide(step)  # the same decision `run` makes
            if decision.kind == "skip":
                result.done_before.append(step.name)
                lines += screen.prose(
                    f"already done: {step.name} ({', '.join(step.writes)} exist in {self.out})",
                    self.width,
                    "  ",
                    "",
                )
                if decision.change is not None:
                    lines += screen.prose(
                        f"(but it differs from the plan: {decision.change}; see run --force)",
                        self.width,
                    )
                continue
            if decision.kept:
                lines += screen.prose(
                    f"{step.name} keeps the existing key {', '.join(decision.kept)} "
                    "(never replaced)",
                    self.width,
                    "  ",
                    "",
                )
            todo.append(step)
        return todo, lines

    def _walk_full(self, plan: Plan, result: WalkResult) -> None:
        for step in plan.steps:
            todo, done = self._decide([step], result)
            if done:
                self.pager.header = []
                self.pager.lines(done)
            if not todo:
                continue
            self.pager.line()
            answer = self._before(step)
            if answer == QUIT:
                self._quit(result, step)
                return
            if answer == SKIP:
                result.skipped.append(step.name)
                self.pager.lines(self._skipped_lines(step))
                continue
            self.pager.header = self._header(step, "what appeared")
            ok = self._run(plan, step, result)
            if ok is None:
                return
            if self._after(step) == QUIT:
                following = self._following(plan, step)
                if following is not None:
                    self._quit(result, following)
                    return
        self.pager.header = []
        self.say()
        self.prose(self._summary(result), "")

    def _before(self, step: Step) -> str:
        """What and why, then the commands (one page when they fit); the run prompt."""
        head = self._header(step)
        what = self._what_and_why(step)
        commands = self._commands(step)
        self.pager.more_keys = {"s": SKIP, "q": QUIT}
        self.pager.header = self._header(step, why=True)
        try:
            if self.pager.fits(head + what + commands):
                self.pager.lines(head + what + commands)
            else:
                self.pager.header = head
                self.pager.lines(head + what)
                answer = self.pager.prompt(COMMANDS_PROMPT, {"s": SKIP, "q": QUIT}, COMMANDS)
                if answer != COMMANDS:
                    return answer
                self.pager.header = self._header(step, why=True)
                self.pager.lines(self.pager.header + commands)
            while True:
                answer = self.pager.prompt(RUN_PROMPT, RUN_KEYS, RUN)
                if answer != EXPLAIN:
                    return answer
                self._explain([step])
                self.pager.lines(self._header(step, why=True))
        except Stop as stop:
            return stop.choice
        finally:
            self.pager.more_keys = {"q": QUIT}

    def _after(self, step: Step) -> str:
        """Wait after a step's result: Enter next, p prove, e explain, q quit."""
        while True:
            answer = self.pager.prompt(AFTER_PROMPT, AFTER_KEYS, NEXT)
            try:
                if answer == PROVE:
                    self._prove()
                elif answer == EXPLAIN:
                    self._explain([step])
                else:
                    return answer
            except Stop as stop:
                return stop.choice

    def _walk_compact(self, plan: Plan, result: WalkResult) -> None:
        """Steps flow from screen to screen; each screen's prompt runs the steps shown whole
        so far, and their results open the next screen."""
        self._queue: list[list[Step]] = []  # groups shown whole, not run yet
        self._plan = plan
        self._result = result
        self._current: list[Step] = []  # the group being shown
        self._begun = False  # whether its header is on the screen already
        for group in kinds.compact_groups(plan):
            todo, done = self._decide(group, result)
            self._current = []
            for line in done:
                self._emit(line)
            block = self._compact_block(plan, todo) if todo else []
            self._current = todo
            self._begun = False
            for line in block:
                self._emit(line)
                self._begun = True
            if todo:
                self._queue.append(todo)
        self._current = []
        if self._queue and not self._break_page(final=True):
            return
        self.pager.header = []
        self.say()
        self.prose(self._summary(result), "")

    def _emit(self, line: str) -> None:
        room = self.pager.room
        full = room is not None and screen.rows_of(line, self.width) > room
        if full and not self._break_page():
            raise _Done
        self.pager.line(line)

    def _break_page(self, final: bool = False) -> bool:
        """The end of a screen: run the steps shown whole (Enter), skip them, explain them,
        prove, or quit; their results start the next screen. False when the walk stops."""
        steps = [s for group in self._queue for s in group]
        if not steps:
            answer = self.pager.prompt("[Enter] more · q quit > ", {"q": QUIT}, "more")
            if answer == QUIT:
                self._quit(self._result, self._current[0])
                return False
            self._continued()
            return True
        while True:
            answer = self.pager.prompt(COMPACT_PROMPT, COMPACT_KEYS, RUN)
            if answer not in (EXPLAIN, PROVE):
                break
            try:
                self._explain(steps) if answer == EXPLAIN else self._prove()
            except Stop as stop:
                answer = stop.choice
                break
        if answer == QUIT:
            self._quit(self._result, steps[0])
            return False
        lines: list[str] = []
        ok = True
        for group in self._queue:
            if answer == SKIP:
                self._result.skipped += [s.name for s in group]
                lines += self._skipped_lines(group[0], group)
                continue
            made, ok = self._run_group(group)
            lines += made
            if not ok and not self.keep_going:
                break
        self._queue = []
        self.pager.header = []
        for line in lines:
            self.pager.line(line)
        if not ok and not self.keep_going:
            self.prose(f"stopped at {self._result.failed[-1]}; fix it and run the walkthrough "
                       "again.", "")  # fmt: skip
            return False
        if not final:
            self._continued()
        return True

    def _continued(self) -> None:
        """The top of a screen that goes on with a step begun on the one before."""
        if self._current and self._begun:
            self.pager.header = self._header(self._current[0], "continued", why=True)
            self.pager.lines(self.pager.header)

    # -- what a screen shows

    # -- running

    def _run(self, plan: Plan, step: Step, result: WalkResult) -> bool | None:
        """Run one step and show what appeared; None when the walk stops here."""
        try:
            self.runner.run(plan.select([step.name]), self.makers)
        except CommandFailed as exc:
            result.failed.append(step.name)
            self.pager.lines(self._failed(exc))
            self.pager.lines(self._problems(step))
            if not self.keep_going:
                self.prose(f"stopped at {step.name}; fix it and run the walkthrough again.", "")
                return None
            self.prose("going on (--keep-going): later steps may fail for want of its files", "")
            return False
        result.ran.append(step.name)
        self.pager.lines(self._made(step))
        return True

    def _run_group(self, group: Sequence[Step]) -> tuple[list[str], bool]:
        """Run a group's steps; one line for all that went well (the first one's subject as
        openssl prints it), and each failure or problem on lines of its own."""
        lines: list[str] = []
        good: list[tuple[Step, str]] = []
        ok = True
        for step in group:
            made, shown, fine = self._run_compact(self._plan, step, self._result)
            if fine and not made:
                good.append((step, shown))
                continue
            lines += made
            if not fine:
                ok = False
                if not self.keep_going:
                    break
        if good:
            names = [s.name for s, _shown in good]
            listed = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
            shown = good[0][1]
            verdict = "" if self.check is None else "; checks: nothing wrong"
            lines = (
                screen.prose(
                    f"ran {listed}{': ' + shown if shown else ''}{verdict}", self.width, "    ", ""
                )
                + lines
            )
        return lines, ok

    def _run_compact(
        self, plan: Plan, step: Step, result: WalkResult
    ) -> tuple[list[str], str, bool]:
        """Run one step; a line or two of what appeared, for the top of the next screen."""
        try:
            self.runner.run(plan.select([step.name]), self.makers)
        except CommandFailed as exc:
            result.failed.append(step.name)
            return [*self._failed(exc), *self._problems(step)], "", False
        result.ran.append(step.name)
        shown = ""
        if isinstance(step, CertStep) and (self.out / step.spec.cert_file).exists():
            argv = openssl_argv.inspect_argv(step.spec.cert_file)
            output = processes.run(argv, timeout=processes.READ, cwd=self.out).stdout  # read-only
            shown = next((ln.strip() for ln in output.splitlines() if ln.startswith("subject")), "")
        problems = self.check(step) if self.check is not None else []
        if not problems:
            return [], shown, True
        lines = screen.prose(f"ran {step.name}: {shown or ', '.join(step.writes)}", self.width,
                             "    ", "")  # fmt: skip
        lines.append(f"  What is wrong ({len(problems)}):")
        for line in problems:
            lines += screen.prose(line, self.width, "      ", "    - ")
        return lines, shown, True

    def _failed(self, exc: CommandFailed) -> list[str]:
        lines = screen.command(shell_text.argv_text(exc.argv), self.width,
                               f"FAILED (exit {exc.retcode}): ", "")  # fmt: skip
        for line in exc.stderr.strip().splitlines():
            lines += screen.verbatim(line, self.width, "  | ")
        return lines

    def _made(self, step: Step) -> list[str]:
        lines = ["Made:"]
        for path in step.writes:
            full = self.out / path
            if not full.exists():
                lines.append(f"  {path}  (missing)")
                continue
            info = full.stat()
            mode = stat.S_IMODE(info.st_mode)
            lines.append(f"  {path}  {info.st_size} bytes, mode {mode:04o}")
        if isinstance(step, CertStep) and (self.out / step.spec.cert_file).exists():
            argv = openssl_argv.inspect_argv(step.spec.cert_file)
            shown = processes.run(argv, timeout=processes.READ, cwd=self.out)  # read-only
            lines += screen.command(shell_text.argv_text(argv), self.width)
            text = shown.stdout + shown.stderr
            for line in text.rstrip("\n").splitlines():
                lines += screen.verbatim(line, self.width, "    ")
        return lines + self._problems(step)

    def _problems(self, step: Step) -> list[str]:
        """lint's and verify's findings for this step: what a cluster would make of it."""
        if self.check is None:
            return []
        problems = self.check(step)
        if not problems:
            return ["Checks: lint and verify find nothing wrong."]
        lines = [f"What is wrong ({len(problems)}):"]
        for line in problems:
            lines += screen.prose(line, self.width, "    ", "  - ")
        return lines

    def _prove(self) -> None:
        from kpki_openssl.prove.prover import prove
        from kpki_openssl.prove.results import result_text

        plan = self.full
        if plan is None:
            self.say("(prove needs the whole plan)")
            return
        self.say("Proving the folder with the real programs (etcd, etcdctl, kubectl, curl)...")
        self._show_paged(result_text(prove(plan, self.out)))

    def _explain(self, steps: Sequence[Step]) -> None:
        from kpki_openssl.teach import lesson

        text = "".join(
            lesson.explain_text(lesson.step_lesson(step, self.full), self.width) for step in steps
        )
        self._show_paged(text)

    def _show_paged(self, text: str) -> None:
        """Long output a page at a time; q at a `more` prompt ends it (not the walkthrough)."""
        keys, self.pager.more_keys = self.pager.more_keys, {"q": "enough"}
        try:
            for line in text.splitlines():
                self.pager.lines(screen.verbatim(line, self.width))
        except Stop as stop:
            if stop.choice != "enough":
                raise
        finally:
            self.pager.more_keys = keys

    # -- skipping, quitting, the end

    def _skipped_lines(self, step: Step, group: Sequence[Step] = ()) -> list[str]:
        names = [s.name for s in group] or [step.name]
        full = self.full or Plan("", {}, ())
        needing = [n for s in (group or [step]) for n in dependents(full, s) if n not in names]
        needing = list(dict.fromkeys(needing))
        if needing:
            return screen.prose(
                f"skipped {', '.join(names)}; these steps need what it makes and will fail or "
                f"name missing files: {', '.join(needing)}",
                self.width,
                "  ",
                "",
            )
        return [f"skipped {', '.join(names)} (no other step needs it)"]

    def _following(self, plan: Plan, step: Step) -> Step | None:
        number = self._position.get(step.name, 0)
        return plan.steps[number] if number < len(plan.steps) else None

    def _quit(self, result: WalkResult, step: Step) -> None:
        result.quit_at = step.name
        self.pager.header = []
        self.prose(
            f"Stopped before {step.name}. Everything made so far is in {self.out} (commands in "
            f"{self.out / LOG_NAME}); finish with: {self.finish} (or run the walkthrough again)",
            "",
        )

    def _summary(self, result: WalkResult) -> str:
        return f"Walkthrough finished: {counts(result)}; commands logged in {self.out / LOG_NAME}"


def counts(result: WalkResult) -> str:
    """What a walk did, in words: steps run, already done, skipped, failed."""
    parts = [f"{len(result.ran)} steps run", f"{len(result.done_before)} already done"]
    if result.skipped:
        parts.append(f"{len(result.skipped)} skipped ({', '.join(result.skipped)})")
    if result.failed:
        parts.append(f"{len(result.failed)} FAILED ({', '.join(result.failed)})")
    return ", ".join(parts)


def terminal_ask(stdin: TextIO, stream: TextIO) -> Ask | None:
    """A prompt that acts on one keypress on a terminal; None when stdin is not one."""
    return screen.terminal_keys(stdin, stream)
