"""YAML text for the plain documents the plan writes (kubeconfigs, KubeletConfiguration).

`dump(data)` gives exactly what `yaml.safe_dump(data, sort_keys=False, default_flow_style=False)`
gives, but for documents made only of mappings, lists, booleans, numbers and short unquoted
strings it writes the text itself: pyyaml's Python representer costs ~0.1 ms a node, which
is most of a 5,000-node plan's time (10,000 YAML files). Anything else (a string that needs
quotes, a long one pyyaml would fold, a list in a list) goes to pyyaml, so the text never
differs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Strings pyyaml writes plain (no quotes) in block context, when they also read back as a
# string: no spaces, no indicator first, no '#', no ': ' (there is no space at all).
_PLAIN = re.compile(r"^[A-Za-z0-9/_][A-Za-z0-9_./:=@+-]*$")
_MAX_PLAIN = 60  # well under pyyaml's 80-column folding


class _NotPlain(Exception):
    pass


def dump(data: Any) -> str:
    """safe_dump's block-style text of `data` (key order kept)."""
    try:
        lines: list[str] = []
        if isinstance(data, dict) and data:
            _mapping(data, "", "", lines)
        elif isinstance(data, list) and data:
            _sequence(data, "", lines)
        else:
            raise _NotPlain
        return "\n".join(lines) + "\n"
    except _NotPlain:
        import yaml

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def _mapping(data: dict, first: str, pad: str, lines: list[str]) -> None:
    """Keys at `pad`; the first line starts with `first` instead (after '- ' in a list)."""
    prefix = first
    for key, value in data.items():
        head = f"{prefix}{_scalar(key) if isinstance(key, str) else _fail()}:"
        prefix = pad
        if isinstance(value, str):  # the most common value: straight to the line
            lines.append(f"{head} {_scalar(value)}")
        elif isinstance(value, dict) and value:
            lines.append(head)
            _mapping(value, pad + "  ", pad + "  ", lines)
        elif isinstance(value, list) and value:
            lines.append(head)
            _sequence(value, pad, lines)  # pyyaml does not indent a list under a key
        else:
            lines.append(f"{head} {_value(value)}")


def _sequence(items: list, pad: str, lines: list[str]) -> None:
    for item in items:
        if isinstance(item, str):
            lines.append(f"{pad}- {_scalar(item)}")
        elif isinstance(item, dict) and item:
            _mapping(item, pad + "- ", pad + "  ", lines)
        elif isinstance(item, list) and item:
            _fail()
        else:
            lines.append(f"{pad}- {_value(item)}")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return _scalar(value)
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    return _fail()


@lru_cache(maxsize=8192)
def _scalar(text: str) -> str:
    if len(text) > _MAX_PLAIN or not _PLAIN.match(text) or not _reads_as_string(text):
        raise _NotPlain
    return text


def _reads_as_string(text: str) -> bool:
    """False when plain `text` would read back as something else (true, 1.5, 12:30, null)."""
    import yaml

    tag = _resolver().resolve(yaml.ScalarNode, text, (True, False))
    return tag == "tag:yaml.org,2002:str"


@lru_cache(maxsize=1)
def _resolver() -> Any:
    """One resolver for every check: resolving a scalar keeps no state."""
    import yaml

    return yaml.resolver.Resolver()


def _fail() -> str:
    raise _NotPlain
