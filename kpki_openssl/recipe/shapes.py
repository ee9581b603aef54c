"""The shapes a recipe's YAML values must have (a mapping, a list, text, one line, words
from a fixed set, only known keys), each refused in one line naming the field and the value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kpki_openssl.base.errors import InputError
from kpki_openssl.recipe import validate


def mapping(field: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{field}: expected a mapping, got {show(value)}")
    return value


def sequence(field: str, value: Any) -> Sequence:
    if not isinstance(value, list):
        raise InputError(f"{field}: expected a list, got {show(value)}")
    return value


def text(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{field}: expected text, got {show(value)}")
    return validate.multiline_text(field, str(value))


def words(field: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    words = tuple(text(field, x) for x in sequence(field, value))
    for word in words:
        if word not in allowed:
            raise InputError(f"{field}: unknown value {word!r} (allowed: {', '.join(allowed)})")
    return words


def known_keys(field: str, spec: Mapping, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise InputError(
            f"{field}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def show(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def line(field: str, value: Any) -> str:
    """Free text that is one line (a title, a line of the document): it is written after a
    '#' in scripts, logs, flags files and YAML, so a newline in it would start a command."""
    return validate.one_line_text(field, text(field, value))


def lines(field: str, raw: Any) -> tuple[str, ...]:
    return tuple(line(field, x) for x in sequence(field, raw))
