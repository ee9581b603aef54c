"""Component configuration from the recipe's `components:` table: the flags and config fields
that hand each certificate to the program that uses it (etcd, kube-apiserver, kubelet). Pure.

Two formats. A flags file holds one `--flag=value` per line after `#` comment lines, ready for
a systemd unit or `etcd $(grep -v '^#' etcd-etcdpeer1.flags)`. A YAML file (a
KubeletConfiguration) is written by base.yamltext. Every value naming a .crt or .key must name
a file this recipe makes, so a typo in a table fails here, not on a host.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.certlist import CertSpec, RowMemo, expand_files, fill_lesson
from kpki_openssl.recipe import validate
from kpki_openssl.recipe.model import ComponentEntry, Departure, Recipe, VariableValue
from kpki_openssl.recipe.template import fill, fill_list

_CERT_SUFFIXES = (".crt", ".key", ".pem", ".pub")


@dataclass(frozen=True)
class ComponentFile:
    """One configuration file to write, its text fully decided."""

    file: str  # also the step name
    program: str
    format: str  # "flags" or "yaml"
    flags: tuple[tuple[str, str], ...]  # ("--cert-file", "/var/lib/kubernetes/etcdserver.crt")
    data: Any  # the YAML document (format "yaml")
    title: str
    explain: str
    document: tuple[str, ...]
    departures: tuple[Departure, ...]
    hosts: tuple[str, ...] = ()  # the hosts this file goes to (see hosts.py)
    host_dir: str = ""  # the folder it goes to there
    verbatim: str = ""  # format "verbatim": written exactly as the recipe gives it

    @property
    def strings(self) -> tuple[str, ...]:
        """Every value the file holds (flag values, YAML texts): where it names other files."""
        if self.format == "flags":
            return tuple(value for _name, value in self.flags)
        if self.format == "verbatim":
            return ()
        return tuple(_strings(self.data))

    @property
    def text(self) -> str:
        if self.format == "verbatim":
            return self.verbatim
        head = f"# {self.file}: {' '.join(self.title.split())}. Written by kpki_openssl.\n"
        if self.format == "flags":
            head += (
                f"# Flags for {self.program}, one per line; lines starting with # are comments.\n"
            )
            return head + "".join(f"{name}={value}\n" for name, value in self.flags)
        from kpki_openssl.base import yamltext

        return head + yamltext.dump(self.data)


def expand(
    recipe: Recipe, values: Mapping[str, VariableValue], certs: tuple[CertSpec, ...]
) -> tuple[ComponentFile, ...]:
    """Every component file of the recipe, templates filled and certificate names checked."""
    from kpki_openssl.plan.certlist import expand_keypairs

    made = {f for c in certs for f in (c.cert_file, c.key_file)}
    made |= {f for k in expand_keypairs(recipe, values, certs) for f in (k.key_file, k.pub_file)}
    made = {f.rsplit("/", 1)[-1] for f in made}
    return expand_files(
        "components", recipe.components, values, lambda e, ctx, memo: _spec(e, ctx, made, memo)
    )


def _spec(
    entry: ComponentEntry, ctx: Mapping[str, VariableValue], made: set[str], memo: RowMemo
) -> ComponentFile:
    where = f"components[{entry.file}]"
    file = fill(entry.file, ctx, f"{where}.file")
    where = f"components[{file}]"
    validate.file_base(f"{where}.file", file)
    validate.step_name(f"{where}.file", file)
    flags: tuple[tuple[str, str], ...] = ()
    data = None
    if entry.format == "flags":
        flags = tuple(
            (name, _flag_value(value, ctx, f"{where}.flags.{name}")) for name, value in entry.flags
        )
        for name, value in flags:
            _check_file_names(f"{where}.flags.{name}", [value], made)
    elif entry.format == "yaml":
        data = _fill_tree(entry.document_yaml, ctx, f"{where}.yaml", memo)
        _check_tree(f"{where}.yaml", data, made, memo)
    # "verbatim": the document's file as it stands, typos included: neither filled nor checked
    hosts = tuple(
        validate.dns_name(f"{where}.hosts", h) for h in fill_list(entry.hosts, ctx, where)
    )
    host_dir = fill(entry.host_dir, ctx, f"{where}.host_dir")
    if host_dir:
        host_dir = validate.host_path(f"{where}.host_dir", host_dir)
    return ComponentFile(
        file=file,
        program=fill(entry.program, ctx, f"{where}.program"),
        format=entry.format,
        flags=flags,
        data=data,
        **fill_lesson(entry, ctx, where, memo),
        hosts=hosts,
        host_dir=host_dir,
        verbatim=entry.verbatim,
    )


def _flag_value(value: Any, ctx: Mapping[str, VariableValue], field: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = fill(str(value), ctx, field)
    if not text or any(c.isspace() for c in text):
        raise InputError(f"{field}: {text!r} must be one word (no spaces) in a flags file")
    return text


def _fill_tree(node: Any, ctx: Mapping[str, VariableValue], field: str, memo: RowMemo) -> Any:
    """Templates filled throughout; a list item that is exactly {list} becomes the list's items.
    A part that names nothing varying is filled once per row, and the same object is shared."""
    if isinstance(node, str):
        return fill(node, ctx, field)
    if isinstance(node, (list, dict)):
        return memo.once(("tree", id(node)), _strings(node), lambda: _fill(node, ctx, field, memo))
    return node


def _fill(node: list | dict, ctx: Mapping[str, VariableValue], field: str, memo: RowMemo) -> Any:
    if isinstance(node, list):
        if all(isinstance(x, str) for x in node):
            return fill_list(tuple(node), ctx, field)
        return [_fill_tree(x, ctx, f"{field}[{i}]", memo) for i, x in enumerate(node)]
    for key in node:
        if not isinstance(key, str):
            raise InputError(
                f"{field}: key {key!r} is not text (YAML reads on/off/yes/no/numbers as "
                "values; quote the key)"
            )
    return {k: _fill_tree(v, ctx, f"{field}.{k}", memo) for k, v in node.items()}


def _strings(node: Any) -> Iterator[str]:
    """Every text in a recipe's YAML tree (the templates)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _check_tree(field: str, node: Any, made: set[str], memo: RowMemo) -> None:
    """Every file name in the filled tree is one the recipe makes; a part shared by every item
    of the row (see _fill_tree) is checked once."""
    if isinstance(node, (dict, list)):
        # once per object: a shared part is the same object for every item (kept in the memo,
        # so its id is never reused while the row is expanded)
        memo.once(("checked", id(node)), (), lambda: (_check(field, node, made, memo), node))
    elif isinstance(node, str):
        _check_file_names(field, [node], made)


def _check(field: str, node: dict | list, made: set[str], memo: RowMemo) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _check_tree(f"{field}.{key}", value, made, memo)
    else:
        _check_file_names(field, [x for x in node if isinstance(x, str)], made)
        for i, value in enumerate(node):
            if not isinstance(value, str):
                _check_tree(f"{field}[{i}]", value, made, memo)


def _check_file_names(field: str, values: list[str], made: set[str]) -> None:
    for value in values:
        if value.endswith(_CERT_SUFFIXES):
            base = value.rsplit("/", 1)[-1]
            if base not in made:
                raise InputError(
                    f"{field}: {value!r} names {base!r}, which no certificate of this recipe makes"
                )
