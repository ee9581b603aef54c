"""One certificate, CSR or kubeconfig credential in human form, with the openssl command that
shows the same. Reading is in-process (certinfo, with cryptography; regular files only); this
module finds the file and lays out fields."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.checks import certinfo, kubeconfig_files
from kpki_openssl.checks.certinfo import CertInfo


@dataclass(frozen=True)
class Inspected:
    file: str  # as given or found
    source: str  # "certificate", "csr" or the kubeconfig field
    info: CertInfo
    command: str  # what a person types to see the same


def inspect(path: Path, display: str) -> list[Inspected]:
    """The certificate in `path`; a kubeconfig gives one item per user."""
    try:
        text = certinfo.read_regular(path).decode("utf-8", errors="replace")
    except KpkiError as exc:
        raise KpkiError(f"{display}: {str(exc).removeprefix(f'{path}: ')}") from None
    folder = path.parent
    name = shlex.quote(path.name)
    if "BEGIN CERTIFICATE REQUEST" in text:
        info = certinfo.read_csr(path.name, cwd=folder)
        return [Inspected(display, "csr", info, f"openssl req -in {name} -noout -text")]
    if "BEGIN CERTIFICATE" in text:
        info = certinfo.read(path.name, cwd=folder)
        command = f"openssl x509 -in {name} -noout -text -fingerprint -sha256"
        return [Inspected(display, "certificate", info, command)]
    parsed = kubeconfig_files.parse(path.name, text)
    if parsed is None:
        raise InputError(f"{display}: neither a PEM certificate, a CSR nor a kubeconfig")
    items = []
    for entry in parsed.entries:
        cred = entry.cert
        if cred is None or cred.error:
            continue
        if cred.embedded:
            info = certinfo.read(cred.field, cwd=folder, pem=cred.pem)
            jsonpath = f'{{.users[?(@.name=="{entry.user}")].user.client-certificate-data}}'
            command = (
                f"kubectl config view --kubeconfig {name} --raw -o jsonpath="
                f"{shlex.quote(jsonpath)} | base64 -d | openssl x509 -noout -text"
            )
        else:
            local = kubeconfig_files.local_file(folder, path.name, cred, {})
            if local is None:
                raise KpkiError(f"{display}: {cred.field}: {cred.path} is missing")
            info = certinfo.read(local, cwd=folder)
            command = f"openssl x509 -in {shlex.quote(local)} -noout -text"
        items.append(Inspected(display, cred.field, info, command))
    if not items:
        raise InputError(f"{display}: the kubeconfig holds no client certificate")
    return items


def fields(item: Inspected, now: datetime) -> list[tuple[str, str]]:
    """(label, value) pairs in reading order."""
    info = item.info
    rows = [("File", item.file), ("Kind", info.kind)]
    if item.source not in ("certificate", "csr"):
        rows.append(("From", item.source))
    rows.append(("Subject", info.subject))
    if info.kind == "certificate":
        days = info.days_left(now)
        left = f"{days:.0f} days left" if days > 0 else f"EXPIRED {-days:.0f} days ago"
        rows += [
            ("Issuer", info.issuer),
            ("Serial", info.serial),
            ("Not before", _when(info.not_before)),
            ("Not after", f"{_when(info.not_after)} ({left})"),
        ]
    sans = list(info.sans.entries())
    ca = "none" if info.is_ca is None else ("CA:TRUE" if info.is_ca else "CA:FALSE")
    rows += [
        ("SANs", ", ".join(sans) or "none"),
        ("Key usage", ", ".join(info.key_usage) or "none"),
        ("Extended key usage", ", ".join(info.extended_key_usage) or "none"),
        ("Basic constraints", ca),
        ("Key", f"{info.key_type} {info.key_bits} bit" if info.key_bits else info.key_type),
    ]
    if info.fingerprint:
        rows.append(("SHA-256 fingerprint", info.fingerprint))
    rows.append(("openssl", item.command))
    return rows


def as_dict(item: Inspected, now: datetime) -> dict:
    info = item.info
    return {
        "file": item.file,
        "kind": info.kind,
        "source": item.source,
        "subject": info.subject,
        "issuer": info.issuer or None,
        "serial": info.serial or None,
        "not_before": _iso(info.not_before),
        "not_after": _iso(info.not_after),
        "days_left": int(info.days_left(now) // 1) if info.not_after else None,
        "dns": list(info.sans.dns),
        "ips": list(info.sans.ips),
        "key_usage": list(info.key_usage),
        "extended_key_usage": list(info.extended_key_usage),
        "is_ca": info.is_ca,
        "key_type": info.key_type,
        "key_bits": info.key_bits,
        "fingerprint_sha256": info.fingerprint or None,
        "command": item.command,
    }


def _when(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "?"


def _iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None
