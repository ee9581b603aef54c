"""What a recipe's commands will put into each certificate, worked out from recipe data alone.

`x509 -req` copies nothing from the CSR: the signed certificate carries only the extension
section passed with -extfile/-extensions. So a row's *requested* extensions (in the CSR) and its
*signed* extensions (in the certificate) can differ, and lint and verify must know both.
Pure: reads CertSpec fields and .cnf text, runs nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.recipe.sans import SubjectAltNames

DEFAULT_DAYS = 30  # openssl x509 -req without -days


@dataclass(frozen=True)
class Extensions:
    """The v3 extensions of a CSR or certificate, in the recipe's words."""

    present: bool = False
    is_ca: bool | None = None  # None: no basicConstraints
    key_usage: tuple[str, ...] = ()
    extended_key_usage: tuple[str, ...] = ()
    sans: SubjectAltNames = SubjectAltNames()


NONE = Extensions()


def parse_cnf(text: str) -> dict[str, list[tuple[str, str]]]:
    """openssl.cnf text -> {section: [(key, value), ...]}; keys before any section go to ''."""
    sections: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, [])
            continue
        key, sep, value = line.partition("=")
        if sep:
            sections.setdefault(current, []).append((key.strip(), value.strip()))
    return sections


def cnf_value(sections: dict[str, list[tuple[str, str]]], section: str, key: str) -> str | None:
    for k, v in sections.get(section, []):
        if k == key:
            return v
    return None


def missing_sections(text: str, section: str | None) -> list[tuple[str, str]]:
    """(reference, section) pairs the .cnf names but does not define: openssl fails on them."""
    sections = parse_cnf(text)
    wanted: list[tuple[str, str]] = []
    for key in ("distinguished_name", "req_extensions", "x509_extensions"):
        value = cnf_value(sections, "req", key)
        if value:
            wanted.append((f"[req] {key}", value))
    if section:
        wanted.append(("-extensions", section))
    for name in {v for _, v in wanted} | ({section} if section else set()):
        san = cnf_value(sections, name, "subjectAltName") or ""
        if san.startswith("@"):
            wanted.append((f"[{name}] subjectAltName", san[1:]))
    return [(ref, name) for ref, name in dict.fromkeys(wanted) if name not in sections]


def section_extensions(text: str, section: str) -> Extensions:
    """The extensions one .cnf section asks for."""
    sections = parse_cnf(text)
    if section not in sections:
        return NONE
    entries = dict(sections[section])
    is_ca = None
    if "basicConstraints" in entries:
        is_ca = "CA:TRUE" in entries["basicConstraints"].upper().replace(" ", "")
    dns: list[str] = []
    ips: list[str] = []
    san = entries.get("subjectAltName", "")
    items: list[tuple[str, str]]
    if san.startswith("@"):
        items = [(k.split(".")[0], v) for k, v in sections.get(san[1:], [])]
    else:
        items = [tuple(x.strip().split(":", 1)) for x in san.split(",") if ":" in x]  # type: ignore[misc]
    for kind, value in items:
        if kind == "DNS":
            dns.append(value)
        elif kind == "IP":
            ips.append(_ip(value))
    return Extensions(
        present=bool(entries),
        is_ca=is_ca,
        key_usage=_words(entries.get("keyUsage", "")),
        extended_key_usage=_words(entries.get("extendedKeyUsage", "")),
        sans=SubjectAltNames(tuple(dns), tuple(ips)),
    )


def requested(spec: CertSpec) -> Extensions:
    """What the CSR asks for (openssl req -config)."""
    if spec.cnf == "none":
        return NONE
    if spec.cnf == "generated":
        return _generated(spec)
    section = cnf_value(parse_cnf(spec.cnf_text), "req", "req_extensions")
    return section_extensions(spec.cnf_text, section) if section else NONE


def signed(spec: CertSpec) -> Extensions:
    """What the certificate will carry: only what x509 -req is given with -extfile."""
    if spec.cnf == "none" or not spec.sign_extensions:
        return NONE
    if spec.cnf == "generated":
        return _generated(spec)
    return section_extensions(spec.cnf_text, openssl_argv.extension_section(spec))


def validity_days(spec: CertSpec) -> int:
    return spec.days if spec.days is not None else DEFAULT_DAYS


def apiserver(specs: Iterable[CertSpec]) -> CertSpec | None:
    """The kube-apiserver's serving certificate: CN kube-apiserver, else the row 'apiserver'."""
    specs = tuple(specs)
    for spec in specs:
        if not spec.is_ca and spec.common_name == "kube-apiserver":
            return spec
    return next((s for s in specs if s.name == "apiserver"), None)


def url_host(url: str) -> str:
    """The host of a kubeconfig server URL ('' when there is none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def host_covered(host: str, dns: Iterable[str], ips: Iterable[str]) -> bool:
    """Would a Go client accept these SANs for this host? (IP SANs for IPs, DNS for names.)"""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return any(_ip(ip) == str(address) for ip in ips)
    host = host.lower().rstrip(".")
    for name in (n.lower() for n in dns):
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _generated(spec: CertSpec) -> Extensions:
    return Extensions(
        present=True,
        is_ca=spec.is_ca,
        key_usage=openssl_argv.key_usages(spec),  # what the generated .cnf says (RSA-only usages)
        extended_key_usage=spec.extended_key_usage,
        sans=spec.sans,
    )


def _words(value: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in value.split(",") if w.strip() and w.strip() != "critical")


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value.strip()
