"""The plan, one step at a time: why, where it departs from the document, the exact commands and
what their flags mean; then (on Enter) run them, show what appeared, and wait again before the
next step, so the result stays on the screen.

Each step runs through the Runner (the same one-step execution as `run STEP`: logged to
commands.sh, keys kept, complete steps skipped), so a walkthrough quit halfway leaves a folder
that `run all` or another walkthrough finishes. Input is read only from a terminal: with --yes,
or when stdin is not a terminal, it never waits. Prose is wrapped to the terminal's width (80
when it is not a terminal) without ever splitting a name, a flag or a path; commands and file
contents are printed as they are.
"""

from __future__ import annotations

import os
import re
import stat
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kpki_openssl.base.errors import CommandFailed, KpkiError
from kpki_openssl.execute.runner import LOG_NAME, Runner, capture
from kpki_openssl.plan import openssl_argv, shell_text
from kpki_openssl.plan.steps import CertStep, Command, Plan, Step, WriteFile
from kpki_openssl.teach import flag_glossary

Ask = Callable[[str], str]  # prompt -> the line typed ('' for Enter); EOFError to quit
Check = Callable[[Step], "list[str]"]  # a step that ran -> one line per problem

RUN, SKIP, QUIT = "run", "skip", "quit"
NEXT, PROVE, EXPLAIN = "next", "prove", "explain"
DEFAULT_WIDTH = 80


@dataclass
class WalkResult:
    ran: list[str] = field(default_factory=list)
    done_before: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    quit_at: str = ""


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
    try:
        if stream.isatty():
            return max(40, os.get_terminal_size(stream.fileno()).columns)
    except (AttributeError, OSError, ValueError):
        pass
    return DEFAULT_WIDTH


def wrap(text: str, width: int, indent: str = "  ", first: str | None = None) -> list[str]:
    """Prose as lines of at most `width` columns, broken only at spaces: a name such as
    system:kube-controller-manager, a flag or a path is never split (a word longer than the
    line stays whole on a line of its own)."""
    lines: list[str] = []
    for number, paragraph in enumerate(text.strip().split("\n\n")):
        words = " ".join(paragraph.split())
        if not words:
            continue
        start = first if (first is not None and number == 0) else indent
        lines += textwrap.wrap(
            words,
            width,
            initial_indent=start,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return lines


def short(meaning: str) -> str:
    """A flag's meaning in short: its first clause."""
    cut = re.split(r";|: | \(|\. ", meaning, maxsplit=1)[0]
    return cut.strip().rstrip(".")


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


class Walkthrough:
    """Drives one walkthrough; `ask` is None when it must never wait (--yes, stdin not a tty)."""

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
    ) -> None:
        self.out = out
        self.stream = stream
        self.ask = ask
        self.keep_going = keep_going
        self.makers = makers or {}
        self.check = check
        self.full = full
        self.width = width or terminal_width(stream)
        self.runner = Runner(out)
        self._shown: set[tuple[str, str]] = set()  # departures already on a screen

    def say(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def prose(self, text: str, indent: str = "  ", first: str | None = None) -> None:
        for line in wrap(text, self.width, indent, first):
            self.say(line)

    def walk(self, plan: Plan) -> WalkResult:
        missing_inputs(plan, self.out, self.makers)
        result = WalkResult()
        total = len(plan.steps)
        how = (
            "Enter runs each step, s skips it, q quits; after each result Enter goes on, "
            "p proves the folder with the real programs, e explains the step in full"
            if self.ask
            else "running every step"
        )
        self.prose(
            f"Walkthrough of recipe {plan.recipe}: {total} steps into {self.out} ({how}).", ""
        )
        for number, step in enumerate(plan.steps, 1):
            self.say()
            self.prose(f"=== [{number}/{total}] step {step.name}: {step.title} ===", "    ", "")
            decision = self.runner.decide(step)  # the same decision `run` makes
            if decision.kind == "skip":
                result.done_before.append(step.name)
                self.prose(f"already done: {', '.join(step.writes)} exist in {self.out}", "")
                if decision.change is not None:
                    self.prose(
                        f"(but it differs from the plan: {decision.change}; see run --force)"
                    )
                continue
            if decision.kept:
                self.prose(
                    f"keeps the existing key {', '.join(decision.kept)} (never replaced)", ""
                )
            self._show_plan(step)
            answer = self._ask(choice, "[Enter] run it · s skip · q quit > ", RUN)
            if answer == QUIT:
                result.quit_at = step.name
                self._say_resume(step)
                return result
            if answer == SKIP:
                result.skipped.append(step.name)
                self._say_skipped(step)
                continue
            if not self._run(plan, step, result):
                return result
            if self._after(step, plan) == QUIT:
                following = plan.steps[number] if number < total else None
                if following is not None:
                    result.quit_at = following.name
                    self._say_resume(following)
                    return result
        self.say()
        self.prose(self._summary(result), "")
        return result

    # -- the screen before a step

    def _show_plan(self, step: Step) -> None:
        if step.explain:
            self.say("Why:")
            self.prose(step.explain)
        departures = tuple(getattr(self._row(step), "departures", ()))
        seen = [d for d in departures if (d.what, d.why) in self._shown]
        fresh = [d for d in departures if (d.what, d.why) not in self._shown]
        self._shown.update((d.what, d.why) for d in fresh)
        if departures:
            self.say("Where this departs from the document:")
            if seen:
                names = ", ".join(d.what for d in seen)
                self.prose(f"(and as on the earlier screens: {names})", "    ", "  ")
            for dep in fresh:
                self.prose(f"{dep.what}: the document has {dep.document}; here {dep.ours}.",
                           "    ", "  - ")  # fmt: skip
                if dep.why:
                    self.prose(f"why: {dep.why}", "      ", "    ")
        self.say("Commands:")
        for action in step.actions:
            first, *rest = shell_text.action_text(action).splitlines()
            self.say(f"  $ {first}")
            for line in rest:
                self.say(f"    {line}")
        commands = [a for a in step.actions if isinstance(a, Command)]
        if commands:
            self.say("Flags, in short:")
            for command in commands:
                notes = flag_glossary.explain_argv(command.argv)
                parts = [f"{n.text.split(' ', 1)[0]} {short(n.meaning)}" for n in notes[1:]]
                parts = [p for p in dict.fromkeys(parts) if p.strip()]
                if parts:
                    name = " ".join(command.argv[:2])
                    self.prose(" · ".join(parts), "      ", f"  {name}: ")

    def _row(self, step: Step):
        """The recipe row behind a step: its certificate, key pair, kubeconfig or file."""
        return step.spec

    # -- asking

    def _ask(self, parse: Callable[[str], str], prompt: str, default: str) -> str:
        if self.ask is None:
            return default
        try:
            return parse(self.ask(prompt))
        except (EOFError, KeyboardInterrupt):
            self.say()
            return QUIT

    def _after(self, step: Step, plan: Plan) -> str:
        """Wait after a step's result: Enter next, p prove, e explain, q quit."""
        while True:
            answer = self._ask(after_choice, "[Enter] next step · p prove · e explain · q quit > ",
                               NEXT)  # fmt: skip
            if answer == PROVE:
                self._prove()
            elif answer == EXPLAIN:
                self._explain(step)
            else:
                return answer

    def _prove(self) -> None:
        from kpki_openssl.prove.prover import prove, result_text

        plan = self.full
        if plan is None:
            self.say("(prove needs the whole plan)")
            return
        self.say("Proving the folder with the real programs (etcd, etcdctl, kubectl, curl)...")
        self.stream.write(result_text(prove(plan, self.out)))
        self.stream.flush()

    def _explain(self, step: Step) -> None:
        from kpki_openssl.teach import lesson

        text = lesson.explain_text(lesson.step_lesson(step, self.full), self.width)
        self.stream.write(text)
        self.stream.flush()

    # -- running

    def _run(self, plan: Plan, step: Step, result: WalkResult) -> bool:
        try:
            self.runner.run(plan.select([step.name]), self.makers)
        except CommandFailed as exc:
            result.failed.append(step.name)
            self.say(f"FAILED (exit {exc.retcode}): {shell_text.argv_text(exc.argv)}")
            for line in exc.stderr.strip().splitlines():
                self.say(f"  | {line}")
            self._show_problems(step)
            if not self.keep_going:
                self.prose(f"stopped at {step.name}; fix it and run the walkthrough again.", "")
                return False
            self.prose("going on (--keep-going): later steps may fail for want of its files", "")
            return True
        result.ran.append(step.name)
        self._show_made(step)
        return True

    def _show_made(self, step: Step) -> None:
        self.say("Made:")
        for path in step.writes:
            full = self.out / path
            if not full.exists():
                self.say(f"  {path}  (missing)")
                continue
            info = full.stat()
            mode = stat.S_IMODE(info.st_mode)
            self.say(f"  {path}  {info.st_size} bytes, mode {mode:04o}")
        if isinstance(step, CertStep) and (self.out / step.spec.cert_file).exists():
            argv = openssl_argv.inspect_argv(step.spec.cert_file)
            shown = capture(argv, self.out)
            text = shown.stdout + shown.stderr.rstrip("\n") + ("\n" if shown.stderr else "")
            self.say(f"  $ {shell_text.argv_text(argv)}")
            self.stream.write(textwrap.indent(text, "    "))
            self.stream.flush()
        self._show_problems(step)

    def _show_problems(self, step: Step) -> None:
        """lint's and verify's findings for this step: what a cluster would make of it."""
        if self.check is None:
            return
        problems = self.check(step)
        if not problems:
            self.say("Checks: lint and verify find nothing wrong.")
            return
        self.say(f"What is wrong ({len(problems)}):")
        for line in problems:
            self.prose(line, "    ", "  - ")

    def _say_skipped(self, step: Step) -> None:
        needing = dependents(self.full or Plan("", {}, ()), step)
        if needing:
            self.prose(
                f"skipped {step.name}; these steps need what it makes and will fail or name "
                f"missing files: {', '.join(needing)}",
                "  ",
                "",
            )
        else:
            self.say(f"skipped {step.name} (no other step needs it)")

    def _say_resume(self, step: Step) -> None:
        self.prose(
            f"Stopped before {step.name}. Everything made so far is in {self.out} (commands in "
            f"{self.out / LOG_NAME}); finish with: run all --out {self.out} "
            "(or run the walkthrough again)",
            "",
        )

    def _summary(self, result: WalkResult) -> str:
        parts = [f"{len(result.ran)} steps run", f"{len(result.done_before)} already done"]
        if result.skipped:
            parts.append(f"{len(result.skipped)} skipped ({', '.join(result.skipped)})")
        if result.failed:
            parts.append(f"{len(result.failed)} FAILED ({', '.join(result.failed)})")
        return f"Walkthrough finished: {', '.join(parts)}; commands logged in {self.out / LOG_NAME}"


def terminal_ask(stdin: TextIO, stream: TextIO) -> Ask | None:
    """A prompt that reads a line from a terminal; None when stdin is not one (never wait)."""
    if not (hasattr(stdin, "isatty") and stdin.isatty()):
        return None

    def ask(prompt: str) -> str:
        stream.write(prompt)
        stream.flush()
        line = stdin.readline()
        if line == "":
            raise EOFError
        return line

    return ask
