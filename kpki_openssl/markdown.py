"""The plan as a lesson handout in Markdown: each step's purpose, its commands (the same shell
text as dry-run and export), each flag explained, the generated files and the departures from
the document.

Built from lesson.py's data; command text comes from shell.py, so the handout, the dry run and
the exported script cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from kpki_openssl import lesson, shell
from kpki_openssl.plan import Plan
from kpki_openssl.recipe import VariableValue


def code(text: str) -> str:
    """An inline code span that survives backticks inside the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, info: str = "sh") -> str:
    """A fenced code block whose fence cannot occur inside the text."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{ticks}{info}\n{body}{ticks}\n"


def cell(text: str) -> str:
    """Text for one table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def paragraph(text: str) -> str:
    """Recipe prose as Markdown paragraphs (blank lines kept, other newlines folded)."""
    parts = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(_escape(p) for p in parts if p) + "\n"


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def _escape(text: str) -> str:
    """Keep recipe prose literal (no accidental HTML, emphasis or links); `code` spans stay."""
    out, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    text = text.replace("\\", "\\\\")
    for ch in "<>*_[]#`":
        text = text.replace(ch, "\\" + ch)
    return text


def _value(value: VariableValue) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def step_markdown(number: int, step_lesson: lesson.StepLesson, step_shell: str) -> str:
    les = step_lesson
    out = [f"## {number}. {code(les.name)}: {_escape(les.title)}\n\n"]
    if les.why:
        out.append(paragraph(les.why) + "\n")
    signer = f"signed by {code(les.signed_by)}" if les.signed_by else les.relation
    if les.writes:
        made = ", ".join(code(w) for w in les.writes)
        out.append(f"*{signer}; makes* {made}\n\n")
    out.append("### Commands\n\n" + fence(step_shell) + "\n")
    if les.notes:
        out.append(fence("\n".join(les.notes) + "\n", "text") + "\n")
    for command in les.commands:
        out.append(f"{code(command.line)}\n\n")
        out.extend(
            f"- {code(note.text)}: {_escape(note.meaning or '(no explanation recorded)')}\n"
            for note in command.notes
        )
        out.append("\n")
    if les.departures:
        out.append("### Where this departs from the document\n\n")
        rows = [
            tuple(cell(_escape(x)) for x in (d.what, d.document, d.ours, d.why))
            for d in les.departures
        ]
        out.append(table(("what", "document", "ours", "why"), rows) + "\n")
    if les.document_text:
        out.append("### What the document has\n\n")
        out.append(fence("\n".join(les.document_text) + "\n", "text") + "\n")
    if les.beside:
        out.append("### The document's commands beside ours\n\n")
        text = []
        for pair in les.beside:
            text.append(f"# document: {pair.document or '(no such command)'}\n")
            text.append(pair.ours + "\n\n" if pair.ours else "# (we do not run it)\n\n")
        out.append(fence("".join(text).rstrip("\n") + "\n", "text") + "\n")
    return "".join(out)


UMASK = "umask 077\n"  # the exported script's first command, for the pasted blocks too


def handout(plan: Plan, description: str = "") -> str:
    """The whole plan as one Markdown document."""
    lessons = lesson.plan_lessons(plan)
    out = [f"# Building a Kubernetes PKI with openssl: recipe {code(plan.recipe)}\n\n"]
    if description:
        out.append(paragraph(description) + "\n")
    out.append(
        "Every certificate is made by three commands: `openssl genrsa` (a private key), "
        "`openssl req` (a certificate signing request) and `openssl x509 -req` (the signature). "
        "Run the commands below in an empty folder, in order; each step says why it exists and "
        "what each flag does. First make every file you create private to you, as the exported "
        "script does (kubeconfigs written with `cat` and `kubectl` would otherwise be readable "
        "by others, embedded keys included):\n\n"
    )
    out.append(fence(UMASK) + "\n")
    out.append("## Variables\n\n")
    rows = [(code(k), cell(_value(v)) if _value(v) else " ") for k, v in plan.values.items()]
    out.append(table(("variable", "value"), rows) + "\n")
    out.append("## Steps\n\n")
    out.extend(f"{i}. {code(les.name)}: {_escape(les.title)}\n" for i, les in enumerate(lessons, 1))
    out.append("\n")
    for i, (step, les) in enumerate(zip(plan.steps, lessons), 1):
        body = "".join(shell.action_text(a) for a in step.actions)
        out.append(step_markdown(i, les, body))
    return "".join(out)
