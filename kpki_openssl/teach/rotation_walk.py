"""`walkthrough --rotate-ca CA`: a CA's (or the service-account key pair's) rotation, stage by
stage, from where the folder stands.

Before each stage a stage page: what the stage writes, who trusts what after it and why (the
paragraphs of `explain rotate-ca`), the files each host receives and the restarts in order
(deploy/rotation.py). Then the stage's steps, each a walkthrough page (Enter runs it, s skips,
e explains, q quits), run through the same Runner as `rotate-ca` (every step made again, a
built CA's key kept); after remove the same settle-and-clean work. Between stages a pause says
what a person does on the cluster now. Where the rotation stands is worked out from the folder
each time (checks/rotation_stage.py, as `rotate-ca` does), so a walk quit anywhere resumes
when run again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from kpki_openssl.base.folder_names import LOG_NAME
from kpki_openssl.checks import rotation_stage, rotation_state
from kpki_openssl.deploy import rotation as deploy_rotation
from kpki_openssl.execute import rotation as execute_rotation
from kpki_openssl.plan import rotation
from kpki_openssl.plan.shell_text import argv_text
from kpki_openssl.plan.steps import Plan, Step
from kpki_openssl.teach import rotation_lesson, screen
from kpki_openssl.teach.screen import Ask, Stop
from kpki_openssl.teach.walkthrough import EXPLAIN, QUIT, WalkResult, Walkthrough, counts

COMMAND = "walkthrough --rotate-ca"  # how refusals name this command
STAGE_PROMPT = "[Enter] its steps · e explain rotate-ca · q quit > "
NEXT = "next"
# the phase each stage leaves the folder at when all of it has run
AFTER = {"trust": "trusted", "switch": "switched", "remove": "idle"}

Finish = Callable[[str, list[str]], str]  # (command, its words) -> the line a person types


def remaining(state: rotation_state.Status) -> tuple[str, ...]:
    """The stages still to walk from where the folder stands (a new rotation when none is
    under way; a remove cut off while cleaning up is finished)."""
    if state.phase in ("idle", "trust"):
        return rotation.STAGES
    if state.phase in ("trusted", "switch"):
        return ("switch", "remove")
    return ("remove",)


class RotationWalk(Walkthrough):
    """One rotation walked stage by stage; `finish` writes the command lines it suggests (with
    the recipe, --set values and --out of this walk)."""

    def __init__(
        self,
        out: Path,
        stream: TextIO,
        ask: Ask | None,
        full: Plan,
        ca: str,
        finish: Finish,
        rows: int | None = None,
        width: int | None = None,
        keep_going: bool = False,
    ) -> None:
        super().__init__(out, stream, ask, keep_going, full=full, width=width, rows=rows)
        self.ca = ca
        self.plan_all = full
        self.command = finish
        self._stage: rotation.Stage | None = None

    # -- the rotation

    def rotate(self, only: str | None = None) -> WalkResult:
        """Walk the stages left (or only `only`); refusals come before anything is printed."""
        where = rotation_stage.position(self.out, self.plan_all, self.ca)
        names = (only,) if only else remaining(where.state)
        stage = self._plan_of(where, names[0])
        total = WalkResult()
        what = "key pair" if where.keypair else "CA"
        self.prose(
            f"Walkthrough of the rotation of {what} {self.ca} in {self.out}: now "
            f"'{where.state.meaning}'; stages to walk: {', '.join(names)} ({self.keys_text()}; "
            "between stages a pause says what to do on the cluster).",
            "",
        )
        for number, name in enumerate(names, 1):
            if number > 1:
                where = rotation_stage.position(self.out, self.plan_all, self.ca)
                stage = self._plan_of(where, name)
            if self._stage_page(stage, where, number, len(names)) == QUIT:
                total.quit_at = f"stage {name}"
                self._stopped(f"Stopped before stage {name}; nothing of it was run.")
                return total
            if not self._walk_stage(stage, total):
                return total
            after = rotation_stage.position(self.out, self.plan_all, self.ca).state
            if after.phase != AFTER[name]:
                total.failed.append(name)
                pending = f" ({', '.join(after.pending[:3])} not yet done)" if after.pending else ""
                self._stopped(
                    f"Stage {name} is not finished: the folder is at '{after.meaning}'{pending}."
                )
                return total
            following = names[number] if number < len(names) else ""
            if self._pause(stage, after, following) == QUIT:
                total.quit_at = f"stage {following}"
                self._stopped(f"Stopped after stage {name}: the folder is at '{after.meaning}'.")
                return total
        self.pager.header = []
        self.say()
        end = f"The rotation of {self.ca} is complete"
        if after.phase != "idle":  # --stage: one stage walked
            resume = self.command("walkthrough", ["--rotate-ca", self.ca])
            end = f"Stage {names[-1]} of {self.ca} walked (next: stage {after.next}: {resume})"
        self.prose(f"{end}: {counts(total)}; commands logged in {self.out / LOG_NAME}.", "")
        return total

    def _plan_of(self, where: rotation_stage.Position, name: str) -> rotation.Stage:
        stage = rotation_stage.stage(self.out, self.plan_all, where, name, COMMAND)
        rotation_stage.refuse_old_leaves(self.out, self.plan_all, where, stage, command=COMMAND)
        return stage

    def _walk_stage(self, stage: rotation.Stage, total: WalkResult) -> bool:
        """The stage's steps as walkthrough pages, then (after remove) the records settled and
        the rotation's own files removed. False when the walk stops here."""
        self._stage = stage
        typed = f"{COMMAND} {self.ca} --stage {stage.stage} --recipe {self.plan_all.recipe}"
        self.runner = execute_rotation.stage_runner(self.out, lambda _line: None, typed)
        self.makers = {p: s.name for s in stage.plan.steps for p in s.writes}
        self.finish = self.command("rotate-ca", [self.ca, "--stage", stage.stage])
        self.seen.flags.clear()  # each stage glosses its flags again
        result = self.walk(stage.plan)
        total.ran += result.ran
        total.done_before += result.done_before
        total.skipped += result.skipped
        total.failed += result.failed
        total.quit_at = result.quit_at
        if result.quit_at or result.failed:
            return False  # the walk has said where it stopped and what finishes it
        if result.skipped:
            self._stopped(f"Stage {stage.stage} is not finished: {', '.join(result.skipped)} "
                          "skipped.")  # fmt: skip
            return False
        execute_rotation.finish_stage(self.out, self.plan_all, stage, self._removed)
        return True

    def _removed(self, line: str) -> None:
        """remove's last work: the rotation's own files removed, the `rm` as it is logged."""
        gone = line.split()[1:]  # the Report's line: "rm    FILE..."
        self.say("The rotation's own files, now copies or leftovers, removed (logged):")
        self.pager.lines(screen.command(argv_text(("rm", "-f", "--", *gone)), self.width))

    # -- the pages between the steps

    def _stage_page(
        self, stage: rotation.Stage, where: rotation_stage.Position, number: int, count: int
    ) -> str:
        """What the stage writes, who trusts what after it and why, the files per host and the
        restarts; Enter walks its steps, e explains the whole rotation, q quits."""
        title = f"=== Stage {number} of {count}: {stage.stage} ({self.ca}) ==="
        self.pager.header = [self._cut(title)]
        self.say()
        lines = [title, *self._stage_lines(stage, where)]
        try:
            self.pager.lines(lines)
            while True:
                answer = self.pager.prompt(STAGE_PROMPT, {"e": EXPLAIN, "q": QUIT}, NEXT)
                if answer != EXPLAIN:
                    return answer
                self._show_paged(rotation_lesson.text(self.plan_all))
                self.pager.lines(self.pager.header)
        except Stop as stop:
            return stop.choice

    def _stage_lines(self, stage: rotation.Stage, where: rotation_stage.Position) -> list[str]:
        plan, w = self.plan_all, self.width
        phases = rotation_state.KEY_PHASES if where.keypair else rotation_state.PHASES
        after = phases["done" if stage.stage == "remove" else AFTER[stage.stage]][0]
        lines = screen.prose(f"Now: {where.state.meaning}. After it: {after}.", w, "  ", "")
        lines += ["What it writes:"]
        what = rotation_lesson.stage_paragraph(plan, self.ca, stage.stage)
        lines += screen.prose(what if what.endswith(".") else what + ".", w)
        found = deploy_rotation.changes(plan, stage)
        restarts = {p for change in found for p in change.restart}
        whys = []
        if stage.stage == "trust" and not where.keypair:
            whys.append((rotation_lesson.TRUST_FIRST, rotation_lesson.WHY_TRUST_FIRST))
        f = stage.files
        if (
            stage.stage != "remove"
            and isinstance(f, rotation.Files)
            and rotation.needs_signer(plan, f)
        ):
            whys.append((rotation_lesson.SINGLE_SIGNER, rotation_lesson.why_signer(plan, f)))
        if "etcd" in restarts:
            whys.append((rotation_lesson.ETCD_ROLLING, rotation_lesson.why_etcd(plan)))
        for heading, text in whys:
            lines += [f"{heading}:", *screen.prose(text, w)]
        for note in stage.notes:
            lines += screen.prose(f"note: {note}", w, "  ", "")
        names = [s.name for s in stage.plan.steps]
        lines += screen.prose(f"Its steps ({len(names)}): {', '.join(names)}.", w, "  ", "")
        if not found:
            return lines + ["No host (from 'hosts') receives a file of this stage."]
        lines.append("The files each host receives:")
        for change in found:
            files = ", ".join(src for src, _path, _mode in change.files)
            lines += screen.prose(f"{change.host}: {files}", w, "      ", "  ")
        return lines + self._restarts(found)

    def _restarts(self, found: tuple[deploy_rotation.HostChange, ...]) -> list[str]:
        lines = ["Then restart, in this order (reload behaviour from the Kubernetes reference):"]
        for line in deploy_rotation.restart_lines(found):
            lines += screen.prose(line, self.width, "      ", "  ")
        return lines

    def _pause(self, stage: rotation.Stage, after: rotation_state.Status, following: str) -> str:
        """What a person does on the cluster now, before the next stage (or at the end)."""
        self.pager.header = []
        self.say()
        found = deploy_rotation.changes(self.plan_all, stage)
        lines = screen.prose(f"Stage {stage.stage} done: {after.meaning}.", self.width, "  ", "")
        if found:
            install = (
                self.command("export", ["--host", "HOST"])
                if stage.stage == "remove"  # the folder is the recipe's again: its usual install
                else self.command("rotate-ca", [self.ca, "--stage", stage.stage, "--host", "HOST"])
            )
            lines.append("On the cluster now:")
            lines += screen.prose(
                f"put each host's files in place (the commands for one host: {install})",
                self.width,
                "      ",
                "  - ",
            )
            lines += self._restarts(found)
        if stage.stage == "switch" and stage.notes:
            lines += screen.prose(f"Wait before remove: {stage.notes[0]}.", self.width, "  ", "")
        try:
            self.pager.lines(lines)
            if not following:
                return NEXT
            prompt = f"[Enter] on to stage {following} · q quit > "
            return self.pager.prompt(prompt, {"q": QUIT}, NEXT)
        except Stop as stop:
            return stop.choice

    def _stopped(self, why: str) -> None:
        self.pager.header = []
        resume = self.command("walkthrough", ["--rotate-ca", self.ca])
        self.prose(f"{why} Run the walkthrough again to go on from where the folder stands: "
                   f"{resume}", "")  # fmt: skip

    # -- the Walkthrough's own parts, for a stage

    def _run(self, plan: Plan, step: Step, result: WalkResult) -> bool | None:
        try:
            return super()._run(plan, step, result)
        finally:
            self.runner.invocation = ""  # the log names the command once a stage

    def _intro(self, plan: Plan) -> str:
        return ""  # the stage page has said it

    def _summary(self, result: WalkResult) -> str:
        stage = self._stage.stage if self._stage else ""
        return f"Stage {stage}: {counts(result)}."
