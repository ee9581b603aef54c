"""A recipe's variables resolved: the defaults with `--set KEY=VALUE` applied, every value
checked (its kind, its per-item check, its choices, the address ranges between variables)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kpki_openssl.base.errors import InputError
from kpki_openssl.recipe import shapes, validate
from kpki_openssl.recipe.model import Recipe, Variable, VariableValue, yes_no


def resolve_variables(recipe: Recipe, sets: Iterable[str] = ()) -> dict[str, VariableValue]:
    """The recipe's defaults with `--set KEY=VALUE` applied, every value checked."""
    values: dict[str, VariableValue] = {}
    for var in recipe.variables.values():
        values[var.name] = _checked(var, var.default, f"variables.{var.name}")
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--set: {item!r} is not KEY=VALUE")
        var = recipe.variables.get(key)
        if var is None:
            from kpki_openssl.base.messages import did_you_mean

            hint = did_you_mean(key, recipe.variables)
            known = hint or f"known: {', '.join(sorted(recipe.variables))}"
            raise InputError(f"--set: unknown variable {key!r} ({known})")
        if var.kind == "list" and var.default and not raw.strip() and key in _row_lists(recipe):
            # `--set nodes=$NODES` with NODES unset: a cluster without kubelets is never meant
            raise InputError(
                f"--set {key}: {raw!r} (empty) would make no {key} at all; "
                f"write --set {key}=[] if that is what you mean"
            )
        values[key] = _checked(var, _parse_set_value(var, raw), f"--set {key}")
    from kpki_openssl.recipe import address_ranges

    address_ranges.check(recipe, values)
    return values


def _row_lists(recipe: Recipe) -> set[str]:
    """The list variables that rows are made for each item of (nodes, etcd_peers)."""
    rows = (*recipe.certificates, *recipe.kubeconfigs, *recipe.components)
    return {row.for_each[1] for row in rows if row.for_each}


EMPTY_LIST = "[]"  # `--set nodes=[]`: no items, said on purpose


def _parse_set_value(var: Variable, raw: str) -> VariableValue:
    explicit_empty = var.kind in ("list", "map") and raw.strip() == EMPTY_LIST
    items = [part.strip() for part in raw.split(",")] if raw.strip() and not explicit_empty else []
    if var.kind == "list":
        return tuple(items)
    if var.kind == "map":
        pairs = {}
        for part in items:
            k, sep, v = part.partition("=")
            if not sep or not k.strip():
                raise InputError(f"--set {var.name}: {part!r} is not KEY=VALUE")
            if k.strip() in pairs:  # node01=10.0.0.1,node01=10.0.0.2: which one was meant?
                raise InputError(f"--set {var.name}: duplicate key {k.strip()!r}")
            pairs[k.strip()] = v.strip()
        return pairs
    if var.kind == "bool":
        return yes_no(f"--set {var.name}", raw)
    if var.kind == "int":
        return validate.positive_int(f"--set {var.name}", raw.strip())
    return raw


def _checked(var: Variable, value: VariableValue, field: str) -> VariableValue:
    check = validate.CHECKS.get(var.check) if var.check else None
    if var.kind == "list":
        items = tuple(value)  # type: ignore[arg-type]
        out = tuple(
            check(f"{field}[{i}]", x) if check else validate.one_line_text(f"{field}[{i}]", x)
            for i, x in enumerate(items)
        )
        dupes = sorted(x for x, n in Counter(out).items() if n > 1)
        if dupes:
            raise InputError(f"{field}: duplicate value {dupes[0]!r}")
        return out
    if var.kind == "map":
        return {
            validate.step_name(f"{field} key", k): (
                check(f"{field}[{k}]", v) if check else validate.one_line_text(f"{field}[{k}]", v)
            )
            for k, v in dict(value).items()  # type: ignore[call-overload]
        }
    if var.kind == "bool":
        return yes_no(field, value)
    if var.kind == "int":
        return validate.positive_int(field, value)
    text = validate.one_line_text(field, shapes.text(field, value))
    if var.choices and text not in var.choices:
        raise InputError(f"{field}: {text!r} is not one of {', '.join(var.choices)}")
    return check(field, text) if check else text
