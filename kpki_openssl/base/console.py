"""Terminal output: rich on a terminal, plain text when piped.

Logs and progress go to stderr so stdout stays clean for pipes. Text we did not write as rich
markup (commands, [alt_names] sections) is never parsed as markup.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


DEFAULT_WIDTH = 80  # columns, when the stream is not a terminal (a pipe, a file)


def width(stream: TextIO) -> int:
    """The terminal's width in columns (at least 40); 80 when the stream is not a terminal."""
    try:
        if is_terminal(stream):
            return max(40, os.get_terminal_size(stream.fileno()).columns)
    except (AttributeError, OSError, ValueError):
        pass
    return DEFAULT_WIDTH


def height(stream: TextIO) -> int | None:
    """The terminal's height in rows (at least 10); None when the stream is not a terminal."""
    try:
        if is_terminal(stream):
            return max(10, os.get_terminal_size(stream.fileno()).lines)
    except (AttributeError, OSError, ValueError):
        pass
    return None


def show_script(
    text: str | Iterable[str], stream: TextIO | None = None, fold: bool = False
) -> None:
    """Shell text (whole, or in pieces): highlighted on a terminal (with `fold`, each long
    command folded at spaces with ` \\` to the terminal's width), byte-for-byte plain when
    piped, where pieces are written as they come so a huge plan is never held twice."""
    stream = stream or sys.stdout
    parts = [text] if isinstance(text, str) else text
    if not is_terminal(stream):
        for part in parts:
            stream.write(part)
        return
    text = "".join(parts)
    if fold:
        from kpki_openssl.base.shell_fold import fold_script

        text = fold_script(text, width(stream))
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

        columns = width(stream)
        widths = column_widths(headers, rows, columns - 3 * len(headers) - 1)
        if widths is None:  # a name would be cut: one record each
            _show_records(headers, rows, stream, title, columns)
            return
        table = Table(title=title or None)
        for header, size in zip(headers, widths):
            table.add_column(header, width=size, overflow="fold")
        for row in rows:
            table.add_row(*row)
        Console(file=stream, width=columns).print(table, markup=False)
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    if title:
        stream.write(title + "\n")
    for row in [list(headers), *rows]:
        stream.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")


def column_widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], room: int
) -> list[int] | None:
    """Each column's width so that the columns fit in `room` and no word is cut: the widest
    columns give way first, down to their longest word; None when even that does not fit."""
    cells = [[h, *(r[i] for r in rows)] for i, h in enumerate(headers)]
    natural = [max(len(c) for c in col) for col in cells]
    least = [max((len(w) for c in col for w in c.split()), default=1) for col in cells]
    if sum(least) > room:
        return None
    widths = list(natural)
    while sum(widths) > room:
        slack = [w - m for w, m in zip(widths, least)]
        widest = max(range(len(widths)), key=lambda i: (slack[i], widths[i]))
        widths[widest] -= 1
    return widths


def _show_records(
    headers: Sequence[str], rows: Sequence[Sequence[str]], stream: TextIO, title: str, columns: int
) -> None:
    """A table too wide for the terminal as records: the first cell, then each other cell
    under its header, wrapped at spaces (never inside a name)."""
    import textwrap

    if title:
        stream.write(title + "\n")
    for row in rows:
        stream.write(f"{row[0]}\n")
        for header, cell in zip(headers[1:], row[1:]):
            head = f"  {header.lower()}: "
            lines = textwrap.wrap(cell, columns, initial_indent=head,
                                  subsequent_indent=" " * len(head), break_long_words=False,
                                  break_on_hyphens=False)  # fmt: skip
            stream.write("".join(f"{ln}\n" for ln in lines or [head.rstrip()]))


class Reporter:
    """One-line progress messages on stderr (plain text; never markup)."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr

    def __call__(self, message: str) -> None:
        if not self.quiet:
            self.stream.write(message + "\n")
            self.stream.flush()


def cpu_count() -> int:
    """The CPUs this process may use (the default --jobs)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class PlainProgress:
    """Progress as plain lines on stderr (piped, or --quiet: nothing at all)."""

    def __init__(self, total: int, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.line = Reporter(quiet, stream)

    def started(self, step: object) -> None:
        pass

    def finished(self, step: object) -> None:
        pass

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class BarProgress(PlainProgress):
    """A rich progress bar on a terminal's stderr: steps done of total, the steps running now,
    elapsed and remaining time. Report lines scroll above the bar."""

    def __init__(self, total: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=stream, highlight=False)
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.bar.add_task("starting", total=total)
        self.running: list[str] = []

    def line(self, message: str) -> None:  # type: ignore[override]
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def started(self, step: object) -> None:
        self.running.append(getattr(step, "name", str(step)))
        self._describe()

    def finished(self, step: object) -> None:
        name = getattr(step, "name", str(step))
        if name in self.running:
            self.running.remove(name)
        self.bar.advance(self.task)
        self._describe()

    def _describe(self) -> None:
        text = ", ".join(self.running) or "done"
        self.bar.update(self.task, description=text if len(text) <= 40 else text[:39] + "…")

    def __enter__(self) -> BarProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def run_progress(total: int, quiet: bool = False, stream: TextIO | None = None) -> PlainProgress:
    """`run`'s progress: a bar when `stream` (stderr) is a terminal and not quiet; plain lines
    otherwise."""
    stream = stream or sys.stderr
    if not quiet and is_terminal(stream):
        return BarProgress(total, stream)
    return PlainProgress(total, quiet, stream)


class progress:  # noqa: N801 - used as a context manager, like open()
    """A transient progress bar on stderr when it is a terminal; silent otherwise.

    Entering gives a callable taking the label of the item being worked on.
    """

    def __init__(self, total: int | None, what: str, quiet: bool = False) -> None:
        self.total = total
        self.what = what
        self.enabled = not quiet and is_terminal(sys.stderr)
        self._bar = None
        self._task = None

    def __enter__(self):
        if not self.enabled:
            return lambda _label: None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(file=sys.stderr), transient=True)
        self._bar.__enter__()
        self._task = self._bar.add_task(self.what, total=self.total)

        def step(label: str) -> None:
            self._bar.update(self._task, advance=1, description=f"{self.what} {label}")

        return step

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
