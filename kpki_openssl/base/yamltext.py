"""The one YAML writer: every YAML document the plan writes (kubeconfigs, KubeletConfiguration).

Block style, key order kept, pyyaml's layout (a list under a key is not indented). Every string
reads back as the same string, in PyYAML and in Go's YAML (go-yaml v2 under sigs.k8s.io/yaml,
which kubectl and the kubelet read with; it is YAML 1.1, where y, n, on and 0o17 are not
text). A string is written plain only when it is a run of safe characters (no space, no
indicator first, no ':' last) that neither library resolves to something else; any other is
double-quoted, with every character outside printable text escaped, so no value can end its
line, start another, or be read as a number, a boolean, a date, null or a mapping. No line is
folded. The plain strings are the ones pyyaml would also write plain, so for the documents the
plan writes the text is pyyaml's (tests/test_yamltext.py keeps both promises).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# The characters a plain string may hold, and what it may start with.
_PLAIN = re.compile(r"[A-Za-z0-9/_][A-Za-z0-9_./:=@+-]*")
# What go-yaml v2 reads as a number from a plain scalar: strconv.ParseInt/ParseUint with base 0
# ('_' dropped), its float pattern, 0b binary; and a date (its timestamp formats start so).
_GO_NUMBER = re.compile(
    r"[-+]?(?:0[bBoOxX][0-9a-fA-F_]*|[0-9_]+(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?)"
)
_GO_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?")
_GO_WORDS = frozenset({"y", "Y", "n", "N"})  # YAML 1.1 booleans pyyaml does not resolve
# Named escapes of YAML's double-quoted style, read alike by pyyaml and go-yaml.
_ESCAPES = {
    "\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
    "\r": "\\r", "\x1b": "\\e", '"': '\\"', "\\": "\\\\", "\x85": "\\N", "\u2028": "\\L",
    "\u2029": "\\P",
}  # fmt: skip
_KEY_LIMIT = 1000  # a simple key must end within 1024 characters; a longer one is written '? '


def dump(data: Any) -> str:
    """`data` (mappings, lists, strings, booleans, numbers, None) as a block-style document."""
    lines: list[str] = []
    if isinstance(data, Mapping) and data:
        _mapping(data, "", "", lines)
    elif isinstance(data, (list, tuple)) and data:
        _sequence(data, "", "", lines)
    else:
        lines.append(_value(data))
    return "\n".join(lines) + "\n"


def _mapping(data: Mapping, first: str, pad: str, lines: list[str]) -> None:
    """Keys at `pad`; the first line starts with `first` instead (after '- ' in a list)."""
    prefix = first
    for key, value in data.items():
        shown = _value(key)
        if len(shown) > _KEY_LIMIT:
            lines.append(f"{prefix}? {shown}")
            _entry(f"{pad}:", value, pad + "  ", pad + "  ", lines)
        else:
            _entry(f"{prefix}{shown}:", value, pad + "  ", pad, lines)
        prefix = pad


def _entry(head: str, value: Any, inner: str, list_pad: str, lines: list[str]) -> None:
    """`head` (a key and its ':') and the value: on the line, or nested below it."""
    if isinstance(value, Mapping) and value:
        lines.append(head)
        _mapping(value, inner, inner, lines)
    elif isinstance(value, (list, tuple)) and value:
        lines.append(head)
        _sequence(value, list_pad, list_pad, lines)  # pyyaml does not indent a list under a key
    else:
        lines.append(f"{head} {_value(value)}")


def _sequence(items: list | tuple, first: str, pad: str, lines: list[str]) -> None:
    """Items at `pad`; the first line starts with `first` instead (a list in a list)."""
    prefix = first
    for item in items:
        if isinstance(item, Mapping) and item:
            _mapping(item, prefix + "- ", pad + "  ", lines)
        elif isinstance(item, (list, tuple)) and item:
            _sequence(item, prefix + "- ", pad + "  ", lines)
        else:
            lines.append(f"{prefix}- {_value(item)}")
        prefix = pad


def _value(value: Any) -> str:
    """A scalar (or an empty collection) as it stands after 'key: ' or '- '."""
    if isinstance(value, str):
        return scalar(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _other(value)


@lru_cache(maxsize=8192)
def scalar(text: str) -> str:
    """A string as YAML that reads back as exactly `text`: plain when that is safe in both
    YAML libraries, double-quoted otherwise."""
    if _is_plain(text):
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def _is_plain(text: str) -> bool:
    if not _PLAIN.fullmatch(text) or text.endswith(":") or text in _GO_WORDS:
        return False
    if text[0] in "0123456789" and (_GO_NUMBER.fullmatch(text) or _GO_DATE.fullmatch(text)):
        return False
    return _reads_as_string(text)


def _escape(char: str) -> str:
    named = _ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF or code in (0xFEFF, 0xFFFE, 0xFFFF):
        return f"\\u{code:04x}"  # not printable in a YAML stream (or not UTF-8 at all)
    return char


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


def _other(value: Any) -> str:
    """A float, a date or another type YAML has a tag for, in pyyaml's words, on one line."""
    import yaml

    try:
        text = yaml.safe_dump([value], default_flow_style=True, width=1 << 30)
    except yaml.YAMLError as exc:
        raise TypeError(f"YAML cannot hold {type(value).__name__} {value!r}") from exc
    inner = text.strip()[1:-1]
    if "\n" in inner:
        raise TypeError(f"YAML cannot hold {type(value).__name__} {value!r} on one line")
    return inner
