"""A step as a lesson: why it exists, its commands flag by flag, and where it departs from the
document, with the document's command beside ours.

`explain STEP` prints this as plain text; `export --format markdown` renders the same data as a
handout (handout.py). Pure: built from the plan alone.
"""

from __future__ import annotations

import shlex
import textwrap
from dataclasses import dataclass

from kpki_openssl.base import shell_fold
from kpki_openssl.plan import kubeconfig, shell_text
from kpki_openssl.plan.steps import CertStep, Command, KubeconfigStep, Plan, Step, WriteFile
from kpki_openssl.recipe.model import Departure
from kpki_openssl.teach import flag_glossary


@dataclass(frozen=True)
class CommandLesson:
    line: str  # the command exactly as run / exported
    notes: tuple[flag_glossary.Note, ...]


@dataclass(frozen=True)
class Beside:
    """One of the document's commands and the command we run in its place ('' when none)."""

    document: str
    ours: str

    @property
    def same(self) -> bool:
        return _normal(self.document) == _normal(self.ours)


@dataclass(frozen=True)
class StepLesson:
    name: str
    title: str
    why: str
    signed_by: str  # '' for a self-signed CA or a step without a signer
    relation: str  # what the step makes, and from what: 'signed by ca', 'a kubeconfig: ...'
    writes: tuple[str, ...]
    files: tuple[WriteFile, ...]  # files the tool writes itself (.cnf), with their text
    commands: tuple[CommandLesson, ...]
    departures: tuple[Departure, ...]
    beside: tuple[Beside, ...]
    notes: tuple[str, ...] = ()  # the step's own remarks (e.g. the same file made with kubectl)
    document_text: tuple[str, ...] = ()  # what the document has that is not a command
    kind: str = ""  # the step's kind: certificate, key pair, kubeconfig, component file
    exam: tuple[CommandLesson, ...] = ()  # a kubeconfig: the four `kubectl config` commands
    read_back: tuple[str, ...] = ()  # an embedded kubeconfig: how to read a certificate back
    how_run: str = ""  # a kubeconfig: how `run` makes the file the commands describe


def step_lesson(step: Step, plan: Plan | None = None) -> StepLesson:
    """The step as lesson data: built from the plan alone."""
    commands = tuple(a for a in step.actions if isinstance(a, Command))
    row = getattr(step, "spec", None)  # a rotation's file step (a bundle, a copy) has none
    document = tuple(getattr(row, "document", ()))
    departures = tuple(getattr(row, "departures", ()))
    return StepLesson(
        name=step.name,
        title=step.title,
        why=step.explain,
        signed_by=step.signer.name if isinstance(step, CertStep) and step.signer else "",
        relation=step.relation(),
        writes=step.writes,
        files=tuple(a for a in step.actions if isinstance(a, WriteFile)),
        commands=tuple(
            CommandLesson(shell_text.command_line(c), flag_glossary.explain_argv(c.argv))
            for c in commands
        ),
        departures=departures,
        beside=pair_with_document(
            tuple(d for d in document if _is_command(d)),
            [shell_text.command_line(c) for c in commands],
        ),
        notes=() if isinstance(step, KubeconfigStep) else tuple(getattr(step, "notes", ())),
        document_text=tuple(d for d in document if not _is_command(d)),
        kind=step.kind,
        **(_kubeconfig_parts(step) if isinstance(step, KubeconfigStep) else {}),
    )


def _kubeconfig_parts(step: KubeconfigStep) -> dict:
    """A kubeconfig the exam way: the four `kubectl config` commands that make it, how to read
    an embedded certificate back, and how `run` makes the same file."""
    spec = step.spec
    argvs = kubeconfig.kubectl_argvs(spec, embed=spec.embed, local=spec.embed)
    exam = tuple(
        CommandLesson(shell_text.argv_text(argv), flag_glossary.explain_argv(argv))
        for argv in argvs
    )
    read_back: tuple[str, ...] = ()
    if spec.embed:
        read_back = tuple(
            f"kubectl config view --raw --kubeconfig={spec.file} -o jsonpath="
            f"'{{.{where}[0].{field}}}' | base64 -d | openssl x509 -noout {flags}"
            for where, field, flags in (
                ("users", "user.client-certificate-data", "-subject -issuer -enddate"),
                ("clusters", "cluster.certificate-authority-data", "-subject"),
            )
        )
        how = (
            f"run writes {spec.file} naming the files, then runs the first two commands above "
            "(--embed-certs=true), which replace each file name by the file's data."
        )
    else:
        how = (
            f"run writes {spec.file} itself (below; no kubectl needed): the same cluster, user "
            "and context these four commands make."
        )
    return {"exam": exam, "read_back": read_back, "how_run": how}


def plan_lessons(plan: Plan) -> tuple[StepLesson, ...]:
    return tuple(step_lesson(s, plan) for s in plan.steps)


def pair_with_document(document: tuple[str, ...], ours: list[str]) -> tuple[Beside, ...]:
    """Each document command beside ours for the same openssl subcommand (genrsa, req, x509)."""
    if not document:
        return ()
    left = list(ours)
    pairs = []
    for doc in document:
        sub = _subcommand(doc)
        match = next((o for o in left if _subcommand(o) == sub), "")
        if match:
            left.remove(match)
        pairs.append(Beside(doc, match))
    pairs.extend(Beside("", o) for o in left)
    return tuple(pairs)


def _is_command(line: str) -> bool:
    return line.lstrip().startswith(("openssl ", "kubectl "))


def _subcommand(line: str) -> str:
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    return words[1] if len(words) > 1 and words[0] == "openssl" else line


def _normal(line: str) -> str:
    try:
        return shlex.join(shlex.split(line))
    except ValueError:
        return line


def _wrap(text: str, indent: str, width: int = 80, rest: str | None = None) -> str:
    """Prose wrapped at spaces only: a name, a flag or a path is never split."""
    out = []
    for number, paragraph in enumerate(text.strip().split("\n\n")):
        out.extend(
            textwrap.wrap(
                " ".join(paragraph.split()),
                width,
                initial_indent=indent if number == 0 else (rest or indent),
                subsequent_indent=rest if rest is not None else indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out) + "\n" if out else ""


def _command(line: str, width: int, first: str = "  $ ", rest: str = "  ") -> str:
    """A command folded at unquoted spaces with ` \\` to fit `width` (display only)."""
    return "".join(f"{ln}\n" for ln in shell_fold.fold_command(line, width, first, rest))


def _file_lines(content: str, width: int, bar: str = "  | ") -> str:
    """A file's text behind a bar; its comment lines wrapped as comments, a longer line broken
    after a space, `/`, `=` or `,` and continued after `↪` (display only)."""
    from kpki_openssl.teach.screen import verbatim

    out = [ln for line in content.splitlines() for ln in verbatim(line, width, bar)]
    return "".join(f"{ln}\n" for ln in out)


def _flag_notes(command: CommandLesson, width: int) -> str:
    parts = []
    pad = min(max(len(n.text) for n in command.notes), max(10, width // 3))
    hang = " " * (8 + pad)
    for note in command.notes:
        meaning = note.meaning or "(no explanation recorded)"
        if len(note.text) <= pad:
            parts.append(_wrap(meaning, f"      {note.text.ljust(pad)}  ", width, hang))
        else:  # a long value: the meaning goes on the lines below it
            longest = max((len(w) for w in meaning.split()), default=0)
            below = hang if len(hang) + longest <= width else " " * 8
            parts.append(
                _wrap(note.text, "      ", width, "        ") + _wrap(meaning, below, width)
            )
    return "".join(parts)


def explain_text(lesson: StepLesson, width: int = 80) -> str:
    """The lesson as plain text for a terminal or a pipe, every line at most `width` columns
    where its words allow (prose wrapped at spaces, commands folded with ` \\`, comments in
    files wrapped as comments), never inside a name."""
    parts = [_wrap(f"step {lesson.name}: {lesson.title}", "", width, "    ")]
    if lesson.writes:
        parts.append(
            _wrap(f"{lesson.relation}; writes {' '.join(lesson.writes)}", "  ", width, "    ")
        )
    if lesson.why:
        parts.append("\nWhy\n" + _wrap(lesson.why, "  ", width))
    if lesson.exam:
        parts.append("\nCommands (the exam way: kubectl config)\n")
        for command in lesson.exam:
            parts.append(_command(command.line, width))
            parts.append(_flag_notes(command, width))
        if lesson.read_back:
            parts.append("\nRead the embedded certificates back\n")
            parts.extend(_command(line, width) for line in lesson.read_back)
        parts.append("\nHow run makes it\n" + _wrap(lesson.how_run, "  ", width))
        for command in lesson.commands:
            parts.append(_command(command.line, width))
    elif lesson.commands:
        parts.append("\nCommands\n")
        for command in lesson.commands:
            parts.append(_command(command.line, width))
            parts.append(_flag_notes(command, width))
    if lesson.notes:
        parts.append("".join(_wrap(line, "  ", width, "    ") for line in lesson.notes))
    for file in lesson.files:
        head = "What this writes" if lesson.exam else "The file"
        when = "" if lesson.exam else " (written before the commands)"
        parts.append("\n" + _wrap(f"{head}: {file.path}{when}", "", width, "  "))
        parts.append(_file_lines(file.content, width))
    if lesson.departures:
        parts.append("\nWhere this departs from the document, and why\n")
        for dep in lesson.departures:
            parts.append(_wrap(dep.what, "  - ", width, "    "))
            for label, text in (("document", dep.document), ("ours", dep.ours), ("why", dep.why)):
                head = f"      {label + ':':<9} "
                parts.append(_wrap(text or "-", head, width, " " * len(head)))
    if lesson.document_text:
        parts.append("\nWhat the document has\n")
        parts.extend(_wrap(line, "  ", width, "    ") for line in lesson.document_text)
    if lesson.beside:
        parts.append("\nThe document's commands beside ours\n")
        for pair in lesson.beside:
            parts.append(
                _command(pair.document or "(no such command)", width, "  document: ", "  ")
            )
            ours = "(the same)" if pair.same else (pair.ours or "(we do not run it)")
            parts.append(_command(ours, width, "  ours:     ", "  ") + "\n")
    return "".join(parts)
