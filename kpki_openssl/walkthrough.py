"""The plan, one step at a time: why, the exact commands, then (on Enter) run them and show what
appeared.

Each step runs through the Runner (the same one-step execution as `run STEP`: logged to
commands.sh, keys kept, complete steps skipped), so a walkthrough quit halfway leaves a folder
that `run all` or another walkthrough finishes. Input is read only from a terminal: with --yes,
or when stdin is not a terminal, it never waits.
"""

from __future__ import annotations

import stat
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kpki_openssl import openssl_argv, shell
from kpki_openssl.errors import CommandFailed
from kpki_openssl.plan import CertStep, Plan, Step
from kpki_openssl.runner import LOG_NAME, Runner, capture

Ask = Callable[[str], str]  # prompt -> the line typed ('' for Enter); EOFError to quit
Check = Callable[[Step], "list[str]"]  # a step that ran -> one line per problem

RUN, SKIP, QUIT = "run", "skip", "quit"


@dataclass
class WalkResult:
    ran: list[str] = field(default_factory=list)
    done_before: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    quit_at: str = ""


def choice(answer: str) -> str:
    word = answer.strip().lower()
    if word in ("q", "quit", "exit"):
        return QUIT
    if word in ("s", "skip", "n", "no"):
        return SKIP
    return RUN


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
    ) -> None:
        self.out = out
        self.stream = stream
        self.ask = ask
        self.keep_going = keep_going
        self.makers = makers or {}
        self.check = check
        self.runner = Runner(out)

    def say(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def walk(self, plan: Plan) -> WalkResult:
        result = WalkResult()
        total = len(plan.steps)
        how = "Enter runs each step, s skips it, q quits" if self.ask else "running every step"
        self.say(f"Walkthrough of recipe {plan.recipe}: {total} steps into {self.out} ({how}).")
        for number, step in enumerate(plan.steps, 1):
            self.say()
            self.say(f"=== [{number}/{total}] step {step.name}: {step.title} ===")
            decision = self.runner.decide(step)  # the same decision `run` makes
            if decision.kind == "skip":
                result.done_before.append(step.name)
                self.say(f"already done: {', '.join(step.writes)} exist in {self.out}")
                if decision.change is not None:
                    self.say(
                        f"  (but it differs from the plan: {decision.change}; see run --force)"
                    )
                continue
            if decision.kept:
                self.say(f"keeps the existing key {', '.join(decision.kept)} (never replaced)")
            self._show_plan(step)
            answer = self._decide()
            if answer == QUIT:
                result.quit_at = step.name
                self._say_resume(step)
                return result
            if answer == SKIP:
                result.skipped.append(step.name)
                self.say(f"skipped {step.name}")
                continue
            if not self._run(plan, step, result):
                return result
        self.say()
        self.say(self._summary(result))
        return result

    def _show_plan(self, step: Step) -> None:
        if step.explain:
            self.say("Why:")
            self.say(textwrap.indent(textwrap.fill(" ".join(step.explain.split()), 96), "  "))
        self.say("Commands:")
        for action in step.actions:
            first, *rest = shell.action_text(action).splitlines()
            self.say(f"  $ {first}")
            for line in rest:
                self.say(f"    {line}")

    def _decide(self) -> str:
        if self.ask is None:
            return RUN
        try:
            return choice(self.ask("[Enter] run it · s skip · q quit > "))
        except (EOFError, KeyboardInterrupt):
            self.say()
            return QUIT

    def _run(self, plan: Plan, step: Step, result: WalkResult) -> bool:
        try:
            self.runner.run(plan.select([step.name]), self.makers)
        except CommandFailed as exc:
            result.failed.append(step.name)
            self.say(f"FAILED (exit {exc.retcode}): {shell.argv_text(exc.argv)}")
            for line in exc.stderr.strip().splitlines():
                self.say(f"  | {line}")
            self._show_problems(step)
            if not self.keep_going:
                self.say(f"stopped at {step.name}; fix it and run the walkthrough again.")
                return False
            self.say("going on (--keep-going): later steps may fail for want of its files")
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
            self.say(f"  $ {shell.argv_text(argv)}")
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
            self.say(textwrap.fill(line, 100, initial_indent="  - ", subsequent_indent="    "))

    def _say_resume(self, step: Step) -> None:
        self.say(
            f"Stopped before {step.name}. Everything made so far is in {self.out} (commands in "
            f"{self.out / LOG_NAME}); finish with: run all --out {self.out} "
            "(or run the walkthrough again)"
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
