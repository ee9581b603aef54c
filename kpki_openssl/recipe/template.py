"""The recipe's template language, in one place: parsing, the names a template may use, filling.

A template is text with placeholders. `{var}` is a variable's value (a list joins with commas,
yes/no reads yes or no); `{map[key]}` looks up, in the map variable `map`, the value of the name
`key` (a variable or the row's loop item), '' when the map has no such key; `{{` and `}}` are
literal braces. `string.Formatter` does the parsing, so braces follow Python's rules; format
specs (`{x:>3}`), conversions (`{x!r}`), attributes (`{x.y}`) and positional fields (`{}`,
`{0}`) are not part of the language and are refused.

Names follow one rule, for variables, loop items and placeholders alike (NAME_RULE), and a
placeholder that names nothing the row defines is refused when the recipe is loaded, with the
field it is in, rather than when (or if) some item of a `for_each` first fills it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Container, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Optional, Union

from kpki_openssl.base.errors import InputError

if TYPE_CHECKING:
    from kpki_openssl.recipe.model import Recipe, VariableValue

NAME_RULE = "a lower-case letter, then lower-case letters, digits and '_', at most 64"
_NAME = r"[a-z][a-z0-9_]{0,63}"
_NAME_ONLY = re.compile(_NAME)
_FIELD = re.compile(rf"({_NAME})(?:\[({_NAME})\])?")
_FORMATTER = string.Formatter()

Placeholder = tuple[str, Optional[str]]  # (name, the name of its map key or None)
Part = Union[str, Placeholder]


def is_name(text: str) -> bool:
    """A name a template can use: the rule for variable names and loop items too."""
    return bool(_NAME_ONLY.fullmatch(text))


def parse(template: str, field: str) -> tuple[Part, ...]:
    """The template as literal text and (name, key) placeholders; a template outside the
    language is refused, naming `field`."""
    try:
        return _parse(template)
    except ValueError as exc:
        raise InputError(f"{field}: {exc}") from None


@lru_cache(maxsize=4096)
def _parse(template: str) -> tuple[Part, ...]:
    """Parsed once per distinct text: a 5,000-node plan fills the same few templates 100,000
    times. Raises ValueError with the reason."""
    parts: list[Part] = []
    text = ""
    try:
        chunks = list(_FORMATTER.parse(template))
    except ValueError:
        raise ValueError(
            f"{template!r} has a brace that opens or closes nothing "
            "(write {{ or }} for a literal brace)"
        ) from None
    for literal, name, spec, conversion in chunks:
        text += literal
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        match = _FIELD.fullmatch(name)
        if match is None or spec or conversion:
            raise ValueError(
                f"{shown}}} in {template!r} is not a placeholder: write {{name}} or "
                f"{{map[name]}}, a name being {NAME_RULE} (and {{{{ }}}} for literal braces)"
            )
        if text:
            parts.append(text)
            text = ""
        parts.append((match.group(1), match.group(2)))
    if text:
        parts.append(text)
    return tuple(parts)


@lru_cache(maxsize=4096)
def names(template: str) -> frozenset[str]:
    """Every name a (valid) template uses, map keys included."""
    if "{" not in template:
        return frozenset()
    return frozenset(n for part in _parse(template) if not isinstance(part, str) for n in part if n)


def fill(template: str, ctx: Mapping[str, VariableValue], field: str) -> str:
    """The template with its placeholders replaced by values from `ctx`."""
    if "{" not in template and "}" not in template:  # most text has no placeholder
        return template
    try:
        parts = _parse(template)  # not parse(): this is the hot path of a 5,000-node plan
    except ValueError as exc:
        raise InputError(f"{field}: {exc}") from None
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name, key = part
        value = ctx[name] if key is None and name in ctx else _lookup(part, template, ctx, field)
        if isinstance(value, str):  # the common case: a plain text variable or loop item
            out.append(value)
        elif isinstance(value, bool):
            out.append("yes" if value else "no")
        else:
            out.append(",".join(value) if isinstance(value, tuple) else str(value))
    return "".join(out)


def fill_list(
    templates: tuple[str, ...], ctx: Mapping[str, VariableValue], field: str
) -> list[str]:
    """Fill each item; an item that is exactly {list} becomes the list's items; '' items drop."""
    out: list[str] = []
    for template in templates:
        parts = parse(template, field) if "{" in template else ()
        whole = len(parts) == 1 and not isinstance(parts[0], str)
        value = _lookup(parts[0], template, ctx, field) if whole else None  # type: ignore[arg-type]
        if isinstance(value, tuple):
            out.extend(value)
        else:
            out.append(fill(template, ctx, field))
    return [x for x in out if x != ""]


def _lookup(
    placeholder: Placeholder, template: str, ctx: Mapping[str, VariableValue], field: str
) -> VariableValue:
    """What a placeholder stands for; check_recipe has refused the names nothing defines, so
    the errors here are for plans built from a Recipe made without parse_recipe."""
    name, key = placeholder
    if name not in ctx:
        raise InputError(f"{field}: {{{name}}} names no variable (in {template!r})")
    value = ctx[name]
    if key is None:
        return value
    if not isinstance(value, Mapping):
        raise InputError(f"{field}: {{{name}[{key}]}} needs {name!r} to be a map")
    if key not in ctx:
        raise InputError(f"{field}: {{{name}[{key}]}}: {key!r} names no variable or loop item")
    return value.get(str(ctx[key]), "")


# ----- at load: every template of a recipe, against the names its row defines -----


def check_recipe(recipe: Recipe) -> None:
    """Refuse the first template, in recipe order, that is outside the language or names
    something its row does not define: one line naming the field."""
    variables = recipe.variables
    maps = {n for n, v in variables.items() if v.kind == "map"}
    for field, template, scope in _templates(recipe):
        for part in parse(template, field):
            if isinstance(part, str):
                continue
            name, key = part
            shown = f"{{{name}}}" if key is None else f"{{{name}[{key}]}}"
            if name not in scope:
                raise InputError(f"{field}: {shown} names no variable")
            if key is not None:
                if name not in maps:
                    raise InputError(f"{field}: {shown} needs {name!r} to be a map variable")
                if key not in scope:
                    raise InputError(f"{field}: {shown}: {key!r} names no variable or loop item")


def _templates(recipe: Recipe) -> Iterator[tuple[str, str, Container[str]]]:
    """(field, template, the names it may use) for every template in the recipe: the
    variables, the row's loop item, and in a certificate's document and departures {name}
    (the certificate's name), as certlist, kubeconfig and components fill them."""
    variables = frozenset(recipe.variables)
    for cert in recipe.certificates:
        where = f"certificates[{cert.name}]"
        scope = variables | _loop(cert.for_each)
        named = scope | {"name"}
        yield from _each(where, scope, _cert_fields(cert))
        yield from _each(where, named, _lesson(cert))
    for i, departure in enumerate(recipe.departures):
        # shared by every certificate: its {name} but no loop item (not every row has one)
        yield from _each("departures", variables | {"name"}, _departure(f"[{i}]", departure))
    for pair in recipe.keypairs:
        where = f"keypairs[{pair.name}]"
        fields = [(".name", pair.name), (".file", pair.file), (".title", pair.title)]
        fields += [(".explain", pair.explain)]
        fields += [(f".document[{i}]", line) for i, line in enumerate(pair.document)]
        yield from _each(where, variables, fields)
    for config in recipe.kubeconfigs:
        where = f"kubeconfigs[{config.file}]"
        fields = [
            (f".{key}", getattr(config, attr))
            for key, attr in (
                ("file", "file"), ("client", "client"), ("served_by", "served_by"),
                ("server", "server"), ("embed", "embed"), ("cluster", "cluster"),
                ("user", "user"), ("context", "context"), ("paths.ca", "ca_dir"),
                ("paths.client", "client_dir"), ("title", "title"), ("explain", "explain"),
            )
        ]  # fmt: skip
        scope = variables | _loop(config.for_each)
        yield from _each(where, scope, [*fields, *_lesson(config)])
    for component in recipe.components:
        where = f"components[{component.file}]"
        fields = [(".file", component.file), (".program", component.program)]
        fields += [(".title", component.title), (".explain", component.explain)]
        fields += [(f".flags.{k}", v) for k, v in component.flags if isinstance(v, str)]
        fields += list(_tree(".yaml", component.document_yaml))
        fields += list(_lesson(component))
        yield from _each(where, variables | _loop(component.for_each), fields)


def _each(
    where: str, scope: Container[str], fields: Any
) -> Iterator[tuple[str, str, Container[str]]]:
    for suffix, template in fields:
        if "{" in template or "}" in template:
            yield f"{where}{suffix}", template, scope


def _loop(for_each: tuple[str, str] | None) -> frozenset[str]:
    return frozenset((for_each[0],)) if for_each else frozenset()


def _cert_fields(cert: Any) -> Iterator[tuple[str, str]]:
    yield ".name", cert.name
    yield ".file", cert.file
    if cert.ca is not None:
        yield ".ca", cert.ca
    for attr, values in cert.subject:
        for value in values:
            yield f".subject.{attr}", value
    for i, dns in enumerate(cert.sans.dns):
        yield f".sans.dns[{i}]", dns
    for i, ip in enumerate(cert.sans.ips):
        yield f".sans.ip[{i}]", ip
    if cert.days != "none":
        yield ".days", cert.days
    yield ".title", cert.title
    yield ".explain", cert.explain


def _lesson(row: Any) -> Iterator[tuple[str, str]]:
    """A row's document lines and departures."""
    for i, line in enumerate(row.document):
        yield f".document[{i}]", line
    for i, departure in enumerate(row.departures):
        yield from _departure(f".departures[{i}]", departure)


def _departure(prefix: str, departure: Any) -> Iterator[tuple[str, str]]:
    for key in ("what", "document", "ours", "why"):
        yield f"{prefix}.{key}", getattr(departure, key)


def _tree(prefix: str, node: Any) -> Iterator[tuple[str, str]]:
    """Every text in a component's YAML tree (its keys are not templates)."""
    if isinstance(node, str):
        yield prefix, node
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _tree(f"{prefix}[{i}]", item)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _tree(f"{prefix}.{key}", value)
