"""Kubeconfig files: find them, and read their server URLs, CA and client credentials.

Standard kubeconfig YAML (apiVersion v1, kind Config). A credential is either a path
(`certificate-authority`, `client-certificate`, `client-key`, relative to the kubeconfig's
folder) or inline base64 (`*-data`). Pure parsing; files are read by the caller's folder walk.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks.certinfo import read_regular

if TYPE_CHECKING:
    from kpki_openssl.plan.kubeconfig import KubeconfigSpec

KUBECONFIG_SUFFIXES = (".kubeconfig", ".conf")


@dataclass(frozen=True)
class Credential:
    """One PEM item of a kubeconfig: from a file it names, or embedded."""

    field: str  # e.g. "users[admin].client-certificate-data"
    path: str = ""  # resolved relative to the output folder ('' when embedded)
    pem: str = ""  # the decoded text when embedded
    error: str = ""  # why it could not be read (bad base64, ...)

    @property
    def embedded(self) -> bool:
        return not self.path


@dataclass(frozen=True)
class Entry:
    """One user (with its cluster, via the contexts) of a kubeconfig."""

    user: str
    server: str
    ca: Credential | None
    cert: Credential | None
    key: Credential | None


@dataclass(frozen=True)
class Kubeconfig:
    file: str  # relative to the output folder
    entries: tuple[Entry, ...]


def load_yaml(text: str) -> object:
    """The document, or None when it is not YAML or holds an alias (a kubeconfig written by
    kubectl never does; an alias bomb would cost minutes and gigabytes to walk). Text with no
    '&' and no '*' can hold no alias, and goes through libyaml when PyYAML has it: lint parses
    every kubeconfig the plan writes, and the pure-Python parser was three quarters of lint's
    time at 1,000 nodes."""
    import yaml

    if "&" in text or "*" in text:
        from kpki_openssl.base import safeyaml

        try:
            return safeyaml.load(text, "kubeconfig", aliases=False)
        except safeyaml.YamlRefused:
            return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, RecursionError):
        return None


def is_kubeconfig(data: object) -> bool:
    return isinstance(data, dict) and data.get("kind") == "Config"


_SERVER_LINE = re.compile(r"^    server: (.*)$", re.M)  # clusters[].cluster.server, as written
_TOP_KEYS = re.compile(r"^(\S[^:]*):", re.M)


def servers_in_text(text: str) -> list[str]:
    """The clusters' server URLs. The kubeconfigs a plan writes (yamltext's layout: one cluster,
    `server:` at four spaces) take a fast path that parses only that one line, cached: lint
    reads every planned kubeconfig, and a full parse of each was most of its time at 5,000
    nodes. Any other layout is parsed whole."""
    lines = _SERVER_LINE.findall(text)
    top = _TOP_KEYS.findall(text)
    if len(lines) == 1 and top.count("clusters") == 1 and "kind: Config\n" in text:
        url = _scalar(lines[0])
        if isinstance(url, str) and _whole_parse_agrees(text, url):
            return [url]
    return _servers_parsed(text)


_checked_layouts: set[str] = set()


def _whole_parse_agrees(text: str, url: str) -> bool:
    """Once per layout (the text with its names and data masked), compare the fast path with a
    whole parse, so a layout it misreads falls back instead of giving a wrong answer."""
    layout = re.sub(r"(?m)^#.*\n|:[^\n]*", ":", text)
    if layout in _checked_layouts:
        return True
    if _servers_parsed(text) != [url]:
        return False
    _checked_layouts.add(layout)
    return True


@lru_cache(maxsize=256)
def _scalar(value: str) -> object:
    return load_yaml(f"v: {value}\n").get("v") if value else None


def _servers_parsed(text: str) -> list[str]:
    data = load_yaml(text)
    if not is_kubeconfig(data):
        return []
    return [
        str(_section(c.get("cluster"))["server"])
        for c in _named(data, "clusters", "cluster")
        if "server" in _section(c.get("cluster"))
    ]


def parse(file: str, text: str) -> Kubeconfig | None:
    """A kubeconfig's users, each with the server and CA of its context's cluster."""
    data = load_yaml(text)
    if not is_kubeconfig(data):
        return None
    folder = Path(file).parent
    # names and sections as written may be anything (a list, a number): text and mappings here
    clusters = {
        _name(c.get("name")): _section(c.get("cluster"))
        for c in _named(data, "clusters", "cluster")
    }
    users = {_name(u.get("name")): _section(u.get("user")) for u in _named(data, "users", "user")}
    cluster_of: dict[str, str] = {}
    for ctx in _named(data, "contexts", "context"):
        body = _section(ctx.get("context"))
        cluster_of.setdefault(_name(body.get("user")), _name(body.get("cluster")))
    entries = []
    for name, user in users.items():
        cluster_name = cluster_of.get(name, next(iter(clusters), None))
        cluster = clusters.get(cluster_name) or {}
        entries.append(
            Entry(
                user=str(name),
                server=str(cluster.get("server", "")),
                ca=_credential(
                    cluster, "certificate-authority", f"clusters[{cluster_name}]", folder
                ),
                cert=_credential(user, "client-certificate", f"users[{name}]", folder),
                key=_credential(user, "client-key", f"users[{name}]", folder),
            )
        )
    return Kubeconfig(file, tuple(entries))


# execute.folder.META_DIR: the tool's own bookkeeping (staging leftovers, replaced CAs), not the PKI
TOOL_DIR = ".kpki"


def in_tool_dir(out: Path, path: Path) -> bool:
    """Whether `path` (under `out`) is the tool's bookkeeping rather than part of the PKI."""
    return path.relative_to(out).parts[0] == TOOL_DIR


def find(out: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """Kubeconfig files in the folder (by suffix and content), plus `extra` names (from the
    plan) even when missing, relative to the folder, sorted."""
    found = set(extra)
    for suffix in KUBECONFIG_SUFFIXES:
        for path in out.rglob(f"*{suffix}"):
            if path.is_file() and not in_tool_dir(out, path):
                rel = path.relative_to(out).as_posix()
                if rel in found:
                    continue
                try:
                    if is_kubeconfig(load_yaml(read_regular(rel, out).decode("utf-8"))):
                        found.add(rel)
                except (KpkiError, UnicodeDecodeError):
                    continue
    return sorted(found)


def _name(value: object) -> str:
    """A name as text, whatever YAML made of it (a list or a mapping is shown, capped)."""
    from kpki_openssl.base.messages import one_line

    if value is None:
        return ""
    return value if isinstance(value, str) else one_line(repr(value), 80)


def _section(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _named(data: dict, key: str, body: str) -> list[dict]:
    items = data.get(key) or []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _credential(section: dict, key: str, where: str, folder: Path) -> Credential | None:
    if section.get(f"{key}-data"):
        field = f"{where}.{key}-data"
        try:
            pem = base64.b64decode(str(section[f"{key}-data"]), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return Credential(field, error="not valid base64 PEM")
        return Credential(field, pem=pem)
    if section.get(key):
        value = str(section[key])
        path = value if Path(value).is_absolute() else (folder / value).as_posix()
        return Credential(f"{where}.{key}", path=path)
    return None


def local_file(
    out: Path, kubeconfig_file: str, cred: Credential, installed: dict[tuple[str, str], str]
) -> str | None:
    """Where a referenced credential is in the output folder, or None.

    A kubeconfig may name the path a file will have on its host (/var/lib/kubelet/...). The plan
    knows which folder file that is (`installed`: (kubeconfig, path) -> file); without a plan, a
    missing absolute path is looked for by its base name next to the kubeconfig.
    """
    mapped = installed.get((kubeconfig_file, cred.path))
    if mapped and (out / mapped).is_file():
        return mapped
    if (out / cred.path).is_file():
        return cred.path
    if Path(cred.path).is_absolute():
        nearby = (Path(kubeconfig_file).parent / Path(cred.path).name).as_posix()
        if (out / nearby).is_file():
            return nearby
    return None


def installed_paths(specs: Iterable[KubeconfigSpec]) -> dict[tuple[str, str], str]:
    """(kubeconfig file, path it names) -> the file in the output folder, from the plan."""
    out: dict[tuple[str, str], str] = {}
    for spec in specs:
        for path, file in (
            (spec.ca_path, spec.ca_file),
            (spec.cert_path, spec.cert_file),
            (spec.key_path, spec.key_file),
        ):
            if path and file:
                out[(spec.file, path)] = file
    return out
