"""When does each certificate expire? Like `kubeadm certs check-expiration`, for any folder.

Every certificate of every *.crt under the folder (a file holding two lists both; a PEM block
of another kind or data outside the blocks is reported, as unreadable), plus the client
certificate of every kubeconfig that embeds it or names a file not listed already (a
certificate is listed once). A certificate is listed as a CA when it is self-signed or has
CA:TRUE; every other certificate names the CA whose subject is its issuer. Reading is in-process
(certinfo, with cryptography): only regular files are opened, and whatever cannot be read is
named, with why.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.base.folder_names import META_DIR
from kpki_openssl.checks import certinfo, kubeconfig_files
from kpki_openssl.checks.certinfo import CertInfo


@dataclass(frozen=True)
class Row:
    name: str  # file stem, or the kubeconfig's file name
    file: str  # relative to the folder
    source: str  # "file" or "kubeconfig"
    field: str  # the kubeconfig field ('' for a file)
    info: CertInfo
    is_ca: bool
    ca: str  # name of the issuing CA ('' for a CA, '?' when not in the folder)


@dataclass
class Expiry:
    cas: list[Row]
    leaves: list[Row]
    unreadable: list[str]
    why: dict[str, str] = dataclasses.field(default_factory=dict)  # unreadable name -> the reason

    @property
    def rows(self) -> list[Row]:
        return self.cas + self.leaves


def scan(out: Path, progress: Callable[[str], None] | None = None) -> Expiry:
    """Every certificate in the folder and its kubeconfigs."""
    progress = progress or (lambda _label: None)
    if not out.is_dir():
        raise InputError(f"--out: {str(out)!r} is not a folder ('kpki-openssl run all' builds one)")
    found: list[tuple[str, str, str, str, CertInfo]] = []
    unreadable: list[str] = []
    why: dict[str, str] = {}

    def cannot(name: str, reason: str) -> None:
        unreadable.append(name)
        why[name] = reason

    for rel in _cert_files(out, cannot):
        progress(rel)
        try:
            infos, problem = certinfo.read_all(rel, cwd=out)
        except KpkiError as exc:
            cannot(rel, str(exc).removeprefix(f"{rel}: "))
            continue
        stem = Path(rel).stem
        for i, info in enumerate(infos):  # every certificate of the file: the second is stem#2
            found.append((stem if i == 0 else f"{stem}#{i + 1}", rel, "file", "", info))
        if problem:  # a PEM block of another kind, or data outside the blocks
            cannot(rel, problem)
    listed = {rel for _stem, rel, _source, _field, _info in found}
    for name in kubeconfig_files.find(out):
        progress(name)
        try:
            text = certinfo.read_regular(name, cwd=out).decode("utf-8", errors="replace")
        except KpkiError as exc:
            cannot(name, str(exc).removeprefix(f"{name}: "))
            continue
        parsed = kubeconfig_files.parse(name, text)
        for entry in parsed.entries if parsed else ():
            cred = entry.cert
            if cred is None:
                continue
            label = f"{name} ({cred.field})"
            if cred.error:
                cannot(label, cred.error)
                continue
            try:
                if cred.embedded:
                    info = certinfo.read(cred.field, cwd=out, pem=cred.pem)
                elif (local := kubeconfig_files.local_file(out, name, cred, {})) is not None:
                    if Path(local).as_posix() in listed:
                        continue  # a file of the folder, listed once, under its own name
                    info = certinfo.read(local, cwd=out)
                else:
                    cannot(f"{name} ({cred.field}: {cred.path} is missing)", "missing")
                    continue
            except KpkiError as exc:
                cannot(label, str(exc))
                continue
            found.append((name, name, "kubeconfig", cred.field, info))
    ca_names = {
        info.subject: stem
        for stem, _rel, source, _f, info in found
        if source == "file" and (info.is_ca or info.self_signed)
    }
    cas, leaves = [], []
    for stem, rel, source, field, info in found:
        is_ca = source == "file" and (bool(info.is_ca) or info.self_signed)
        row = Row(
            stem, rel, source, field, info, is_ca, "" if is_ca else ca_names.get(info.issuer, "?")
        )
        (cas if is_ca else leaves).append(row)
    return Expiry(cas, leaves, unreadable, why)


def _cert_files(out: Path, cannot: Callable[[str, str], None]) -> list[str]:
    """Every *.crt under `out` (not in the tool's own folder), relative, in (folder, stem)
    order; a sub-folder that cannot be listed is reported through `cannot`, not skipped."""
    try:
        os.listdir(out)
    except OSError as exc:
        raise KpkiError(f"--out: {str(out)!r} cannot be read: {exc.strerror}") from None

    def walk_error(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(out).as_posix() if exc.filename else str(out)
        cannot(where + "/", f"cannot list: {exc.strerror}")

    names = []
    for folder, dirs, files in os.walk(out, onerror=walk_error):
        base = Path(folder)
        if base == out:
            dirs[:] = [d for d in dirs if d != META_DIR]
        # a folder named like a certificate is listed too: it is reported, not skipped
        for name in [*files, *dirs]:
            if name.endswith(".crt"):
                names.append((base / name).relative_to(out))
    names.sort(key=lambda p: (str(p.parent), p.stem))
    return [p.as_posix() for p in names]


def not_yet_valid(info: CertInfo, now: datetime) -> bool:
    """Its notBefore is still to come: no client or server accepts it now."""
    return info.not_before is not None and info.not_before > now


def residual(info: CertInfo, now: datetime) -> str:
    """Time left, kubeadm style: 45s, 12m, 30h, 364d, 9y; <invalid> once expired, <not yet
    valid> before its notBefore (then it is not healthy, whatever is left)."""
    if info.not_after is None:
        return "<unknown>"
    if not_yet_valid(info, now):
        return "<not yet valid>"
    seconds = int((info.not_after - now).total_seconds())
    if seconds <= 0:
        return "<invalid>"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    days = seconds // 86400
    return f"{days}d" if days < 2 * 365 else f"{days // 365}y"


def residual_days(info: CertInfo, now: datetime) -> int:
    """Whole days left (negative once expired)."""
    if info.not_after is None:
        return 0
    return int((info.not_after - now).total_seconds() // 86400)


def expires_text(info: CertInfo) -> str:
    return info.not_after.strftime("%b %d, %Y %H:%M UTC") if info.not_after else "?"


def starts_text(info: CertInfo) -> str:
    return info.not_before.strftime("%b %d, %Y %H:%M UTC") if info.not_before else "?"


def within(info: CertInfo, now: datetime, days: int) -> bool:
    """Expires within `days` days from now, has expired, or is not valid yet."""
    return (
        info.not_after is None
        or not_yet_valid(info, now)
        or (info.not_after - now).total_seconds() < days * 86400
    )
