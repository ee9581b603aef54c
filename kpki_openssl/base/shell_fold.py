"""Shell text folded to a screen's width, for display only: a long command breaks at an unquoted
space and ends each line but the last with ` \\`, so what is shown still pastes as the same
command. A flag stays on one line with its value, and no word is ever split. Comments are
wrapped at spaces as comments; the text of a here-document is file content and is left alone.

The command log, the exported script and a piped dry run keep one line per command: only what
is printed on a terminal (the dry run, the walkthrough, explain) is folded.
"""

from __future__ import annotations

import re
import textwrap

CONTINUATION = "    "  # indent of a command's continuation lines
_HEREDOC = re.compile(r"<<-?'?\"?(\w+)'?\"?\s*$")


def words(line: str) -> list[str]:
    """The line's words, split at spaces outside quotes; quotes stay in the words."""
    out: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quote != "'":
            current.append(char)
            escaped = True
        elif quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            current.append(char)
            quote = char
        elif char in " \t":
            if current:
                out.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        out.append("".join(current))
    return out


def _groups(tokens: list[str]) -> list[str]:
    """Words kept together on a line: the program and its subcommands up to the first flag, and
    each flag with its value (`-out ca.key`)."""
    groups: list[str] = []
    i = 0
    head: list[str] = []
    while i < len(tokens) and not tokens[i].startswith("-") and len(head) < 3:
        head.append(tokens[i])
        i += 1
    if head:
        groups.append(" ".join(head))
    while i < len(tokens):
        token = tokens[i]
        if (
            token.startswith("-")
            and "=" not in token
            and i + 1 < len(tokens)
            and not tokens[i + 1].startswith("-")
        ):
            groups.append(f"{token} {tokens[i + 1]}")
            i += 2
        else:
            groups.append(token)
            i += 1
    return groups


def fold_command(line: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """One command line as lines of at most `width` columns where the words allow: `first`
    before the first line, `rest` + CONTINUATION before the others, ` \\` after all but the
    last. A line that already fits comes back as it is."""
    if len(first) + len(line) <= width:
        return [first + line]
    lines: list[str] = []
    current = first
    pad = rest + CONTINUATION
    pieces: list[str] = []
    for group in _groups(words(line)):  # a flag and its value apart when together too long
        if len(pad) + len(group) + 2 > width and " " in group:
            pieces.extend(group.split(" ", 1))
        else:
            pieces.append(group)
    for piece in pieces:
        start = current in (first, pad)
        if not start and len(current) + 1 + len(piece) + 2 > width:
            lines.append(current + " \\")
            current = pad
            start = True
        current += piece if start else " " + piece
    lines.append(current)
    return lines


def fold_comment(line: str, width: int) -> list[str]:
    """A `# ...` line wrapped at spaces, each piece a comment again (never inside a word)."""
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    text = line.lstrip()[1:].strip()
    lead = f"{indent}# "
    return textwrap.wrap(
        text,
        width,
        initial_indent=lead,
        subsequent_indent=lead,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def fold_script(text: str, width: int) -> str:
    """Shell text (a dry run) folded for a screen of `width` columns: commands at unquoted
    spaces with ` \\`, comments as comments; here-document bodies as they are."""
    out: list[str] = []
    delimiter = ""
    for line in text.split("\n"):
        if delimiter:
            out.append(line)
            if line == delimiter:
                delimiter = ""
            continue
        if line.lstrip().startswith("#"):
            out.extend(fold_comment(line, width))
            continue
        match = _HEREDOC.search(line)
        if match:
            delimiter = match.group(1)
            out.append(line)
            continue
        out.extend(fold_command(line, width) if line.strip() else [line])
    return "\n".join(out)
