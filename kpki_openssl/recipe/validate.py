"""Checks on single values (names, addresses, subject fields), shared by recipe loading and --set.

Every check raises InputError naming the field and the value, so the CLI can print one line.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache

from kpki_openssl.base.errors import InputError

# Every pattern here is applied with fullmatch, never match: `$` also matches before a final
# newline, so "ca\n" would pass a `^...$` check and start a line in every file it reaches.
# RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1-63 each.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# A subject value may hold what Kubernetes identities need (system:node:node01, kube-admin,
# "Kubernetes The Hard Way") but never the characters that -subj parses (/ = + \) or that
# would not survive a shell or a config file (quotes, $, backticks, control characters).
_SUBJECT_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 :._@()-]*")
SUBJECT_ATTRIBUTES = ("CN", "O", "OU", "C", "ST", "L")
# Upper bounds from RFC 5280's ub-* values.
_SUBJECT_MAX = {"CN": 64, "O": 64, "OU": 64, "C": 2, "ST": 128, "L": 128}
# C is an ISO 3166 two-letter code; openssl encodes it as a PrintableString (no '@' or '_').
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_STEP_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_FILE_BASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")


def dns_name(field: str, value: object) -> str:
    """An RFC 1123 host name (no wildcards, no trailing dot), at most 253 characters."""
    if not isinstance(value, str) or len(value) > 253 or not _DNS_NAME.fullmatch(value):
        raise InputError(f"{field}: {value!r} is not a valid DNS name (RFC 1123)")
    return value


def ip_address(field: str, value: object) -> str:
    """An IPv4 or IPv6 address, returned in its canonical text form.

    IPv6 scope IDs (fe80::1%eth0) are refused: a certificate cannot hold them and openssl's
    IP.n parser rejects them.
    """
    if not isinstance(value, str) or "%" in value:
        raise InputError(f"{field}: {value!r} is not an IP address")
    try:
        return str(ipaddress.ip_address(value.strip(" ")))  # spaces only: never a newline
    except ValueError:
        raise InputError(f"{field}: {value!r} is not an IP address") from None


def subject_value(field: str, attribute: str, value: object) -> str:
    """One RDN value of a -subj string: non-empty, bounded, and unable to add another RDN."""
    if attribute not in SUBJECT_ATTRIBUTES:
        raise InputError(
            f"{field}: unknown subject attribute {attribute!r} "
            f"(allowed: {', '.join(SUBJECT_ATTRIBUTES)})"
        )
    if not isinstance(value, str) or not value:
        raise InputError(f"{field}.{attribute}: empty value {value!r}")
    limit = _SUBJECT_MAX[attribute]
    if len(value) > limit:
        raise InputError(f"{field}.{attribute}: {value!r} is longer than {limit} characters")
    if attribute == "C" and not _COUNTRY.fullmatch(value):
        raise InputError(f"{field}.C: {value!r} is not a two-letter country code")
    if not _SUBJECT_VALUE.fullmatch(value) or value.endswith(" "):
        raise InputError(
            f"{field}.{attribute}: {value!r} has characters a subject may not hold "
            "(allowed: letters, digits, space and : . _ @ ( ) -)"
        )
    return value


def one_line_text(field: str, value: object) -> str:
    """A single-line text value: no control characters (newlines, NUL, escapes) and no
    undecodable bytes, so it can be written into a comment, a file or a log unchanged."""
    if not isinstance(value, str):
        raise InputError(f"{field}: {value!r} is not text")
    bad = next((c for c in value if _is_control(c) or _is_surrogate(c)), None)
    if bad is not None:
        raise InputError(f"{field}: {value!r} holds a control character or undecodable byte")
    return value


def multiline_text(field: str, value: str) -> str:
    """Free text (explanations, a verbatim .cnf): newlines and tabs allowed, nothing else that
    a shell here-document, a comment or a UTF-8 file could not hold."""
    bad = next((c for c in value if (_is_control(c) and c not in "\n\t") or _is_surrogate(c)), None)
    if bad is not None:
        raise InputError(f"{field}: {value!r} holds a control character or undecodable byte")
    return value


def _is_control(char: str) -> bool:
    """Cc, and the Unicode line and paragraph separators, which YAML and some editors
    treat as line breaks (a title holding one could start a YAML line)."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _is_surrogate(char: str) -> bool:
    return unicodedata.category(char) == "Cs"


def step_name(field: str, value: object) -> str:
    """A step name: lower-case, usable on the command line and as a file stem."""
    if not isinstance(value, str) or not _STEP_NAME.fullmatch(value):
        raise InputError(
            f"{field}: {value!r} is not a valid step name "
            "(lower-case letters, digits, '.', '_' and '-', at most 64)"
        )
    return value


def is_variable_name(name: str) -> bool:
    """A recipe variable's name: the rule templates use for names (template.NAME_RULE), so
    every variable can be named in a template."""
    from kpki_openssl.recipe.template import is_name

    return is_name(name)


def file_base(field: str, value: object) -> str:
    """A relative file stem (subfolders allowed): never absolute, never climbing out ('..')."""
    if (
        not isinstance(value, str)
        or not _FILE_BASE.fullmatch(value)
        or any(part in ("..", ".") for part in value.split("/"))
    ):
        raise InputError(f"{field}: {value!r} is not a valid relative file name")
    return value


def positive_int(field: str, value: object, maximum: int = 100_000) -> int:
    """A whole number from 1 to maximum (YAML ints or their decimal text)."""
    if isinstance(value, bool):
        raise InputError(f"{field}: {value!r} is not a whole number")
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{field}: {value!r} is not a whole number") from None
    if isinstance(value, float) or not 1 <= number <= maximum:
        raise InputError(f"{field}: {value!r} is not a whole number from 1 to {maximum}")
    return number


_HOST_PATH = re.compile(r"/(?:[A-Za-z0-9._-]+/?)*")


def host_path(field: str, value: object) -> str:
    """An absolute folder on the cluster's hosts (/var/lib/kubernetes); no spaces or quotes,
    so it can stand unquoted in a flags file. A trailing slash is dropped."""
    if (
        not isinstance(value, str)
        or not _HOST_PATH.fullmatch(value)
        or any(part == ".." for part in value.split("/"))
    ):
        raise InputError(f"{field}: {value!r} is not an absolute path (letters, digits, . _ - /)")
    return value.rstrip("/") or "/"


def https_url(field: str, value: object) -> str:
    """https://HOST[:PORT] with a DNS name or IP address as HOST (what a kubeconfig dials).
    The value is written as given, so nothing but printable ASCII without spaces is taken
    (urlsplit itself drops tabs and newlines before it parses)."""
    host_and_port(field, value)
    return str(value)


def host_and_port(field: str, value: object) -> tuple[str, int]:
    """The host (canonical IP text, or a lower-case DNS name) and port of an https URL."""
    if not isinstance(value, str) or not _URL_CHARS.fullmatch(value):
        raise InputError(f"{field}: {value!r} is not an https://HOST[:PORT] URL")
    result = _host_and_port(value)
    if isinstance(result, str):
        raise InputError(f"{field}: {result}")
    return result


_URL_CHARS = re.compile(r"[!-~]+")  # printable ASCII, no space


@lru_cache(maxsize=1024)
def _host_and_port(value: str) -> tuple[str, int] | str:
    """host_and_port's work, once per URL (a 5,000-node plan checks the same few URLs 10,000
    times); a problem comes back as its message."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        port = 443 if parts.port is None else parts.port
    except ValueError:
        parts, port = None, 0
    if (
        parts is None
        or port == 0  # ':0' is no port a server listens on
        or parts.scheme != "https"
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        return f"{value!r} is not an https://HOST[:PORT] URL"
    host = parts.hostname
    try:
        return ip_address("", host), port
    except InputError:
        pass
    try:
        return dns_name("", host).lower(), port
    except InputError:
        return f"host {host!r} of {value!r} is neither a DNS name nor an IP address"


def cidr(field: str, value: object) -> str:
    """An address range in CIDR form (10.96.0.0/12), host bits zero, in canonical text."""
    if not isinstance(value, str):
        raise InputError(f"{field}: {value!r} is not an address range (CIDR, e.g. 10.96.0.0/12)")
    try:
        return str(ipaddress.ip_network(value.strip(" "), strict=True))
    except ValueError:
        raise InputError(
            f"{field}: {value!r} is not an address range (CIDR, e.g. 10.96.0.0/12)"
        ) from None


CHECKS = {
    "cidr": cidr,
    "dns": dns_name,
    "ip": ip_address,
    "name": step_name,
    "path": host_path,
    "url": https_url,
}
