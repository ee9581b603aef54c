"""A terminal page at a time: lines fitted to the width without splitting a name, pages that fit
the height, and prompts that act on one keypress.

Every line the walkthrough prints goes through a Pager. On a terminal it counts the rows each
line takes; before a page would be taller than the terminal (one row stays for the prompt) it
asks `[Enter] more` and starts the next page with the step's header again, so the title is on
screen whenever a prompt is. Without a terminal (a pipe, --yes) nothing is paged.

Fitting: prose is wrapped at spaces; a command is folded at unquoted spaces with ` \\`; a line of
a file or of a program's output wider than the screen is broken at a space, `/`, `=` or `,`
and continued after `↪`, so a name made of letters, digits, dots and hyphens is never cut.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

from kpki_openssl.base import shell_fold

Ask = Callable[[str], str]  # prompt -> the key pressed ('' for Enter); EOFError to quit
MORE = "more"
CONTINUED = "↪ "  # the start of a display-only continuation of a file's or a program's line


class Stop(Exception):
    """A key at a `more` prompt that ends the page early: the choice it stands for."""

    def __init__(self, choice: str) -> None:
        super().__init__(choice)
        self.choice = choice


def prose(text: str, width: int, indent: str = "  ", first: str | None = None) -> list[str]:
    """Prose as lines of at most `width` columns, broken only at spaces (a word longer than
    the line stays whole on a line of its own); blank-line paragraphs kept apart."""
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


_BREAK = re.compile(r"[ /=,]")


def verbatim(line: str, width: int, indent: str = "") -> list[str]:
    """A line of a file or of a program's output, `indent` before it: as it is when it fits;
    else broken after a space, `/`, `=` or `,` (never inside a name), the rest continued on
    lines that start with `↪`. A comment line is wrapped as comments."""
    if len(indent) + len(line) <= width:
        return [indent + line]
    if line.lstrip().startswith("#"):
        return [indent + ln for ln in shell_fold.fold_comment(line, width - len(indent))]
    lead = indent + " " * (len(line) - len(line.lstrip()))
    out: list[str] = []
    rest, head = line, indent
    while len(head) + len(rest) > width:
        room = width - len(head)
        cut = max((m.end() for m in _BREAK.finditer(rest, 0, room) if m.end() > 1), default=0)
        if cut <= 0:  # no place to break: the word stays whole
            break
        out.append(head + rest[:cut].rstrip())
        rest = rest[cut:].lstrip(" ")
        head = lead + CONTINUED
    out.append(head + rest)
    return out


def command(line: str, width: int, first: str = "  $ ", rest: str = "  ") -> list[str]:
    """A command folded at unquoted spaces with ` \\` (display only)."""
    return shell_fold.fold_command(line, width, first, rest)


def rows_of(line: str, width: int) -> int:
    """How many terminal rows a line takes."""
    return max(1, -(-len(line) // width))


class Pager:
    """Lines to `stream`, `rows` at most per page (None: never paged), prompts on one key.

    `header` is printed again at the top of each continuation page; `more_keys` are the keys
    a `more` prompt takes besides Enter (each ends the page with a Stop of its choice)."""

    def __init__(
        self, stream: TextIO, width: int, rows: int | None = None, ask: Ask | None = None
    ) -> None:
        self.stream = stream
        self.width = width
        self.rows = rows if ask is not None else None
        self.ask = ask
        self.used = 0  # rows since the last prompt
        self.header: list[str] = []
        self.more_keys: dict[str, str] = {"q": "quit"}
        self.pages = 0  # prompts answered: the screens a learner has seen

    @property
    def room(self) -> int | None:
        """Rows left on this page before its prompt (None: no limit)."""
        if self.rows is None:
            return None
        return self.rows - 2 - self.used  # one row for the prompt, one for the previous one

    def fits(self, lines: Sequence[str]) -> bool:
        room = self.room
        return room is None or sum(rows_of(ln, self.width) for ln in lines) <= room

    def line(self, text: str = "") -> None:
        need = rows_of(text, self.width)
        room = self.room
        if room is not None and need > room and self.used > len(self.header):
            self.more()
        self.stream.write(text + "\n")
        self.stream.flush()
        self.used += need

    def lines(self, lines: Iterable[str]) -> None:
        for text in lines:
            self.line(text)

    def more(self) -> None:
        """Ask before the page overflows; go on with the header again, or stop."""
        keys = " · ".join(f"{k} {v}" for k, v in self.more_keys.items())
        answer = self.prompt(f"[Enter] more{' · ' + keys if keys else ''} > ", self.more_keys)
        if answer != MORE:
            raise Stop(answer)
        for text in self.header:
            self.line(text)

    def prompt(self, text: str, keys: dict[str, str], default: str = MORE) -> str:
        """Show `text`, read one key, say what it chose; a new page starts after it. Enter gives
        `default`, a key in `keys` its choice; Ctrl-C, Ctrl-D and EOF give 'quit'."""
        if self.ask is None:
            return default
        while True:
            try:
                key = self.ask(text)
            except (EOFError, KeyboardInterrupt):
                key = "\x04"
            word = key.strip().lower()[:1]
            if key in ("\x04", "\x03"):
                choice = "quit"
            elif word == "":
                choice = default
            else:
                choice = keys.get(word, "")
                if not choice:
                    continue  # not one of the keys: ask again
            break
        self.pages += 1
        self.used = 0
        return choice

    def fresh_page(self) -> None:
        """Start counting a new page (after output that ended with a prompt of its own)."""
        self.used = 0


def terminal_keys(stdin: TextIO, stream: TextIO) -> Ask | None:
    """A prompt that acts on one keypress on a terminal (the key is echoed as a word); None
    when stdin is not a terminal (never wait)."""
    if not (hasattr(stdin, "isatty") and stdin.isatty()):
        return None
    import termios
    import tty

    fd = stdin.fileno()

    def ask(prompt: str) -> str:
        stream.write(prompt)
        stream.flush()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)  # one key at a time; Ctrl-C still interrupts
            key = os.read(fd, 1).decode("utf-8", "replace")
            while _pending(fd):  # an escape sequence (an arrow key): read it whole
                os.read(fd, 16)
                key = "?"
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
        if key in ("", "\x04"):
            stream.write("\n")
            raise EOFError
        stream.write(("" if key in ("\n", "\r") else key) + "\n")
        stream.flush()
        return "" if key in ("\n", "\r", " ") else key

    return ask


def _pending(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0.02)[0])
