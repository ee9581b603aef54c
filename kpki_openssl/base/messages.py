"""Every message the user sees is one line of printable text of bounded length.

Why: an error may quote a value from a recipe, a --set argument or a file in the folder; a
newline in it would forge a second line of output, raw bytes would reach the terminal, and a
YAML alias bomb's expansion could fill the screen."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

LIMIT = 300


def one_line(text: str, limit: int = LIMIT) -> str:
    """`text` with every control or line-separator character shown as an escape (\\n, \\x1b),
    cut to `limit` characters with a mark saying so."""
    text = str(text)
    if len(text) <= limit and text.isprintable():  # most text: nothing to escape or cut
        return text
    out = []
    for char in str(text):
        if _unsafe(char):
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    line = "".join(out)
    if len(line) > limit:
        line = line[: limit - 12] + " …(cut)"
    return line


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char == "\ufeff"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ "did you mean 'X'?" for the closest of `choices` to a mistyped `word`; '' when none is
    close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""
