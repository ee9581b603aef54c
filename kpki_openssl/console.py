"""Terminal output: rich on a terminal, plain text when piped.

Logs and progress go to stderr so stdout stays clean for pipes. Text we did not write as rich
markup (commands, [alt_names] sections) is never parsed as markup.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def show_script(text: str | Iterable[str], stream: TextIO | None = None) -> None:
    """Shell text (whole, or in pieces): highlighted on a terminal, byte-for-byte plain when
    piped, where pieces are written as they come so a huge plan is never held twice."""
    stream = stream or sys.stdout
    parts = [text] if isinstance(text, str) else text
    if not is_terminal(stream):
        for part in parts:
            stream.write(part)
        return
    text = "".join(parts)
    from rich.console import Console
    from rich.syntax import Syntax

    Console(file=stream).print(Syntax(text, "bash", word_wrap=True, theme="ansi_dark"))


def show_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    stream: TextIO | None = None,
    title: str = "",
) -> None:
    """A table: rich on a terminal, aligned plain columns when piped."""
    stream = stream or sys.stdout
    if is_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        Console(file=stream).print(table, markup=False)
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    if title:
        stream.write(title + "\n")
    for row in [list(headers), *rows]:
        stream.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")


class Reporter:
    """One-line progress messages on stderr (plain text; never markup)."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr

    def __call__(self, message: str) -> None:
        if not self.quiet:
            self.stream.write(message + "\n")
            self.stream.flush()
