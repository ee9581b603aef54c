"""YAML loading that a few hundred hostile bytes cannot turn into minutes and gigabytes.

Why: a YAML alias (`*a`) repeats an anchored node; nine nested levels of ten aliases make a
billion nodes out of a few hundred bytes (the "billion laughs"). The parser itself shares
aliased nodes, so composing is cheap; the cost comes when the data is walked or printed. So the
composed node graph is measured first, as it would be expanded, without expanding it: a file
read from an output folder (a kubeconfig) may hold no alias at all, and a recipe (where an
anchor may name a shared `document:` list) may expand to at most MAX_NODES nodes. A recursive
alias is refused too. Errors are one line, never the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kpki_openssl.base import messages
from kpki_openssl.base.errors import InputError

MAX_NODES = 100_000  # expanded; the bundled recipes expand to a few thousand

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlRefused(InputError):
    """Malformed YAML, an alias where none is allowed, or an expansion past the cap."""


def load(text: str, where: str, aliases: bool = False, max_nodes: int = MAX_NODES) -> Any:
    """The document in `text` (None when empty). `aliases`: allowed up to `max_nodes`
    expanded nodes; otherwise any alias is refused. `where` names the file in errors."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise YamlRefused(_syntax(where, exc)) from None
        if node is None:
            return None
        _measure(node, where, aliases, max_nodes)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise YamlRefused(_syntax(where, exc)) from None
        except RecursionError:
            raise YamlRefused(f"{where}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def load_file(path: Path | str, where: str = "") -> Any:
    """The YAML document in a folder's file (a kubeconfig, a kubelet config): read bounded and
    regular files only (safefs.read_regular), no alias allowed. KpkiError, in one line naming
    the file, when it cannot be read or is not such YAML."""
    from kpki_openssl.base.safefs import read_regular

    data = read_regular(path, what="a YAML configuration file")
    return load(data.decode("utf-8", errors="replace"), where or str(path))


def _measure(root: yaml.Node, where: str, aliases: bool, max_nodes: int) -> None:
    """Count the nodes the document expands to (a shared node counted once per use),
    memoized, so a bomb is measured in the time its few real nodes take."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    scalar = yaml.ScalarNode

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:  # a second use of one node: an alias
            if not aliases:
                raise _alias(where, node)
            return sizes[key]
        if node.__class__ is scalar:
            sizes[key] = 1
            return 1
        if key in active:
            raise YamlRefused(f"{where}: line {node.start_mark.line + 1}: a recursive YAML alias")
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1 + sum(size(child) for child in node.value)
        active.discard(key)
        if total > max_nodes:
            raise YamlRefused(
                f"{where}: line {node.start_mark.line + 1}: YAML aliases expand past "
                f"{max_nodes} nodes; refused (an alias bomb?)"
            )
        sizes[key] = total
        return total

    try:
        size(root)
    except RecursionError:
        raise YamlRefused(f"{where}: YAML nested too deeply") from None


def _alias(where: str, node: yaml.Node) -> YamlRefused:
    return YamlRefused(
        f"{where}: line {node.start_mark.line + 1}: YAML aliases (*name) are not accepted "
        "in this file"
    )


def _syntax(where: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "invalid YAML"
    return messages.one_line(f"{where}:{at}: YAML syntax error: {problem}")
