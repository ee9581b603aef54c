"""What a step's walkthrough screen says: its header, what and why, departures, commands with
their flags, and the files it writes (a .cnf shown only where it differs from what the learner
has seen); the Walkthrough (walkthrough.py) pages and runs it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kpki_openssl.plan import shell_text
from kpki_openssl.plan.steps import CertStep, Command, KubeconfigStep, Plan, Step, WriteFile
from kpki_openssl.teach import flag_glossary, kinds, screen


def short(meaning: str) -> str:
    """A flag's meaning in short: its first clause."""
    cut = re.split(r";|: | \(|\. ", meaning, maxsplit=1)[0]
    return cut.strip().rstrip(".")


def cnf_sections(text: str) -> list[tuple[str, list[str]]]:
    """A .cnf as (section name, its lines): '' for the comments before the first section."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        match = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if match:
            out.append((match.group(1), [line]))
        else:
            out[-1][1].append(line)
    return [(name, lines) for name, lines in out if name or any(ln.strip() for ln in lines)]


def shlex_split(line: str) -> list[str]:
    import shlex

    return shlex.split(line)


class StepText:
    """The text of a step's screens; the Walkthrough holds the state these read (the
    terminal's width, what the learner has seen, the plan)."""

    def _header(self, step: Step, part: str = "", why: bool = False) -> list[str]:
        """The step's title line; with `part` (a page that goes on with the step) one line,
        the title cut to fit, and with `why` the first sentence of why under it."""
        number = self._position.get(step.name, 0)
        title = " ".join(step.title.split())
        if part:
            lines = [self._cut(f"=== [{number}/{self._total}] step {step.name}, {part}: {title}")]
        else:
            lines = screen.prose(f"=== [{number}/{self._total}] step {step.name}: {title} ===",
                                 self.width, "    ", "")  # fmt: skip
        if why and step.explain:
            lines.append(self._why_line(step.explain))
        return lines

    def _cut(self, line: str) -> str:
        """One line: cut at a space to the width, with … when cut (never inside a word)."""
        if len(line) <= self.width:
            return line
        return line[: self.width - 1].rsplit(" ", 1)[0] + "…"

    @staticmethod
    def _first_sentence(text: str) -> str:
        return re.split(r"(?<=[a-z0-9)]\.)\s", " ".join(text.split()), maxsplit=1)[0]

    def _why_line(self, text: str) -> str:
        """'Why: ' and the explanation's first sentence, cut at a space to one line."""
        return self._cut(f"Why: {self._first_sentence(text)}")

    def _what_and_why(self, step: Step) -> list[str]:
        lines: list[str] = []
        if step.explain:
            lines.append("Why:")
            lines += screen.prose(step.explain, self.width)
        lines += self._departures(step)
        return lines

    def _departures(self, step: Step, compact: bool = False) -> list[str]:
        departures = tuple(getattr(getattr(step, "spec", None), "departures", ()))
        seen = [d for d in departures if (d.what, d.why) in self.seen.departures]
        fresh = [d for d in departures if (d.what, d.why) not in self.seen.departures]
        self.seen.departures.update((d.what, d.why) for d in fresh)
        if not departures:
            return []
        w = self.width
        if compact:  # the new ones only: two as sentences, the rest by name; why on e
            lines = [
                ln
                for dep in fresh[:1]
                for ln in screen.prose(
                    f"departs, {dep.what}: the document has {dep.document}; here {dep.ours}.",
                    w,
                    "    ",
                    "  - ",
                )
            ]
            if fresh[1:]:
                names = ", ".join(d.what for d in fresh[1:])
                lines += screen.prose(f"departs too: {names} (e explains)", w, "    ", "  - ")
            return lines
        lines = ["Where this departs from the document:"]
        for dep in fresh:
            text = f"{dep.what}: the document has {dep.document}; here {dep.ours}."
            lines += screen.prose(text, w, "    ", "  - ")
            if dep.why:
                lines += screen.prose(f"why: {dep.why}", w, "      ", "    ")
        if seen:
            names = ", ".join(d.what for d in seen)
            lines += screen.prose(f"(and as on the earlier screens: {names})", w, "    ", "  ")
        return lines

    def _commands(self, step: Step, compact: bool = False) -> list[str]:
        """The step's commands, folded to the width; a .cnf as what differs from those already
        shown; a kubeconfig the exam way; the flags not glossed before."""
        if isinstance(step, KubeconfigStep):
            return self._kubeconfig(step, compact)
        lines = [] if compact else ["Commands:"]
        for action in step.actions:
            if isinstance(action, WriteFile):
                lines += self._file(step, action, compact)
            else:
                lines += screen.command(shell_text.command_line(action), self.width)
        if not compact:  # compact: e explains every flag
            lines += self._flags([a.argv for a in step.actions if isinstance(a, Command)])
        return lines

    def _file(self, step: Step, action: WriteFile, compact: bool) -> list[str]:
        head = screen.command(shell_text.heredoc(action).splitlines()[0], self.width)
        delimiter = shell_text.heredoc(action).splitlines()[-1]
        if isinstance(step, CertStep) and action.path == step.spec.cnf_file:
            body = self._cnf_body(action, compact)
        else:
            shown = action.content.splitlines()
            if compact:
                shown = self._pki_lines(shown)
            body = [ln for line in shown for ln in screen.verbatim(line, self.width, "    ")]
        return [*head, *body, f"    {delimiter}"]

    def _pki_lines(self, lines: list[str]) -> list[str]:
        """Compact: a file's lines that name one of the PKI's files, the others counted."""
        files = {p.rsplit("/", 1)[-1] for p in self.makers}
        pattern = re.compile(
            r"(?<![\w.-])(" + "|".join(map(re.escape, sorted(files, key=len, reverse=True)))
            + r")(?![\w.-])"
        ) if files else None  # fmt: skip
        kept = [
            ln for ln in lines
            if not ln.lstrip().startswith("#") and (pattern is None or pattern.search(ln))
        ]  # fmt: skip
        rest = sum(1 for ln in lines if ln.strip() and not ln.lstrip().startswith("#")) - len(kept)
        if rest > 0:
            kept.append(f"(and {rest} more line{'s' * (rest != 1)} that name no file of the PKI:"
                        " e shows the whole file)")  # fmt: skip
        return kept

    def _cnf_body(self, action: WriteFile, compact: bool) -> list[str]:
        """A .cnf: whole the first time; later, its sections already shown are named in one
        line (the [v3_*] and [alt_names] sections are always shown unless compact)."""
        sections = cnf_sections(action.content)
        first = not self.seen.sections
        lines: list[str] = []
        same: list[tuple[str, str]] = []  # (section, the file it was shown in)

        def flush(but: str = "") -> None:
            if same:
                by_file: dict[str, list[str]] = {}
                for name, where in same:
                    by_file.setdefault(where, []).append(f"[{name}]")
                text = "; ".join(f"{' '.join(n)} as in {f}" for f, n in by_file.items())
                text += f", but {but}" if but else ""
                lines.extend(screen.prose(f"({text})", self.width, "      ", "    "))
                same.clear()

        for name, body in sections:
            key = "\n".join(body[1:] if not name else body).strip()
            if name == "":
                key = "(comments)"
            shown_in = self.seen.sections.get(key)
            keep = (
                first
                or shown_in is None
                or (not compact and (name.startswith("v3") or name == "alt_names"))
            )
            if not name and not first:
                continue  # the generated file's own comment: nothing to learn twice
            settings = tuple(
                ln.strip() for ln in body[1:] if ln.strip() and not ln.lstrip().startswith("#")
            )
            before = self.seen.named.get(name)
            changed = [s for s in settings if before and s not in before[0]]
            if (
                keep
                and compact
                and before
                and not shown_in
                and len(changed) <= 2
                and (len(settings) == len(before[0]))
            ):  # the same section but for a line or two: say which
                same.append((name, before[1]))
                flush("; ".join(changed))
            elif keep:
                flush()
                while body and not body[-1].strip() and not first:
                    body = body[:-1]
                lines += [ln for line in body for ln in screen.verbatim(line, self.width, "    ")]
            else:
                same.append((name, shown_in or action.path))
            self.seen.sections.setdefault(key, action.path)
            if name:
                self.seen.named[name] = (settings, action.path)
        flush()
        return lines

    def _kubeconfig(self, step: KubeconfigStep, compact: bool) -> list[str]:
        from kpki_openssl.teach import lesson

        les = lesson.step_lesson(step)
        lines = ["The exam way, kubectl config:" if compact else
                 "Commands (the exam way: kubectl config):"]  # fmt: skip
        for command in les.exam:
            lines += screen.command(command.line, self.width)
        if not compact:
            lines += self._flags([shlex_split(c.line) for c in les.exam])
        if les.read_back:
            lines.append("Read the embedded certificates back:")
            for line in les.read_back:
                lines += screen.command(line, self.width)
        yaml = next(a for a in step.actions if isinstance(a, WriteFile))
        if compact:  # the lines of the file that name the PKI's files; e shows all
            how = " (then embeds with the first two)" if step.spec.embed else ", without kubectl"
            lines += screen.prose(
                f"Enter writes it as run does{how}; what this writes, {yaml.path}:",
                self.width,
                "  ",
                "",
            )
            shown = self._pki_lines(yaml.content.splitlines())
            return lines + [ln for x in shown for ln in screen.verbatim(x, self.width, "    ")]
        lines += screen.prose(f"Enter does what run does: {les.how_run}", self.width, "  ", "")
        for action in step.actions:
            if isinstance(action, Command):
                lines += screen.command(shell_text.command_line(action), self.width)
        self.seen.kubeconfig = self.seen.kubeconfig or yaml.path
        lines.append(f"What this writes: {yaml.path}")
        lines += [
            ln for line in yaml.content.splitlines()
            for ln in screen.verbatim(line, self.width, "    ")
        ]  # fmt: skip
        return lines

    def _flags(self, argvs: Sequence[Sequence[str]]) -> list[str]:
        """Each flag not glossed on an earlier screen, in short, per command."""
        lines: list[str] = []
        for argv in argvs:
            notes = flag_glossary.explain_argv(argv)
            if not notes:
                continue
            command = notes[0].text
            parts = []
            for note in notes[1:]:
                flag = note.text.split(" ", 1)[0].split("=", 1)[0]
                if not flag.startswith("-"):
                    flag = "(positional)"
                if (command, flag) in self.seen.flags:
                    continue
                self.seen.flags.add((command, flag))
                parts.append(f"{note.text.split(' ', 1)[0].split('=', 1)[0]} {short(note.meaning)}")
            parts = [p for p in dict.fromkeys(parts) if p.strip()]
            if parts:
                lines += screen.prose(" · ".join(parts), self.width, "      ", f"  {command}: ")
        return ["Flags, in short:", *lines] if lines else []

    def _compact_block(self, plan: Plan, todo: list[Step]) -> list[str]:
        step = todo[0]
        number = self._position.get(step.name, 0)
        lines = [self._cut(f"=== [{number}/{self._total}] step {step.name}: "
                           f"{' '.join(step.title.split())} ===")]  # fmt: skip
        if step.explain:
            lines.append(self._why_line(step.explain))
        lines += self._departures(step, compact=True)
        lines += self._commands(step, compact=True)
        same = kinds.the_same_for(plan, todo)
        if same:
            lines += screen.prose(same + ":" if not kinds.item_of(plan, step) else same,
                                  self.width, "  ", "")  # fmt: skip
            if not kinds.item_of(plan, step):
                lines += self._members(todo)
        return lines

    def _members(self, group: Sequence[Step]) -> list[str]:
        """What differs in each further step of a group of one shape: its subject, or its
        kubeconfig's user and certificate; and its own departures not shown yet."""
        lines: list[str] = []
        whats = {d.what for d in getattr(getattr(group[0], "spec", None), "departures", ())}
        departs: dict[str, list] = {}  # a departure's name -> (step, departure) in the group
        for step in group[1:]:
            if isinstance(step, CertStep):
                own = f"-subj {step.spec.subject_text}"
            elif isinstance(step, KubeconfigStep):
                own = f"user {step.spec.user}, {step.spec.cert_file}"
            else:
                own = ", ".join(step.writes)
            lines += screen.prose(f"{step.name}: {own}", self.width, "      ", "    ")
            for dep in getattr(getattr(step, "spec", None), "departures", ()):
                if dep.what not in whats and (dep.what, dep.why) not in self.seen.departures:
                    departs.setdefault(dep.what, []).append((step, dep))
                self.seen.departures.add((dep.what, dep.why))
        for what, found in departs.items():
            _step, dep = found[0]
            others = [s.name for s, _d in found[1:]]
            text = f"departs, {what}: the document has {dep.document}; here {dep.ours}" + (
                f" (likewise {', '.join(others)})." if others else "."
            )
            lines += screen.prose(text, self.width, "    ", "  - ")
        return lines
