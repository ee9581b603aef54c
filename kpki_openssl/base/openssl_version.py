"""Which openssl is on PATH, and whether the plan's commands work with it.

The plan needs OpenSSL 3.0 or newer: before 3.0 (and in LibreSSL), `openssl x509 -req -CA ...`
without -CAserial/-CAcreateserial stops with "ca.srl: No such file or directory", because only
3.0 picks a random serial by itself. Every other flag we use (genrsa -out, req -new -key -subj
-config, x509 -req -signkey -days -extfile -extensions) is older. We never use -copy_extensions.
`check` is pure; `read` runs `openssl version` once per program (the runner's check and what lint
and the handout say use the same reading).

What openssl writes differs between versions, and what we print about it says what the openssl
in use does (`in_use` reads `openssl version` once per program). Measured with OpenSSL 3.0.19
(Debian 12) and 3.5.9 (Debian 13): 3.0 and 3.1 write a v1 certificate when `x509 -req` is given
no extensions; from 3.2 x509, req and ca always write v3, adding a subject key identifier (and,
when a CA signs, an authority key identifier). kubectl (Go) and curl accept the leaves of a v1 CA
without CA:TRUE and refuse those of a v3 one.
"""

from __future__ import annotations

import re
import shutil
from functools import cache

from kpki_openssl.base import processes
from kpki_openssl.base.errors import KpkiError

MINIMUM = (3, 0)
_VERSION = re.compile(r"^\s*(OpenSSL|LibreSSL)\s+(\d+)\.(\d+)(?:\.(\d+))?(\S*)")
WHY = (
    "in older OpenSSL and in LibreSSL `openssl x509 -req -CA` without -CAcreateserial stops "
    "for want of a serial file, ca.srl"
)


def check(text: str) -> tuple[int, ...]:
    """The version from `openssl version` output; KpkiError naming what was found if unusable."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = _VERSION.match(first)
    if match is None:
        raise KpkiError(
            f"openssl: cannot tell its version from `openssl version` ({first!r}); "
            f"kpki_openssl needs OpenSSL {MINIMUM[0]}.{MINIMUM[1]} or newer"
        )
    flavour = match.group(1)
    version = tuple(int(part) for part in match.groups()[1:4] if part is not None)
    found = f"{flavour} {'.'.join(map(str, version))}{match.group(5)}"
    if flavour != "OpenSSL" or version[:2] < MINIMUM:
        raise KpkiError(
            f"openssl: found {found}; kpki_openssl needs OpenSSL "
            f"{MINIMUM[0]}.{MINIMUM[1]} or newer ({WHY})"
        )
    return version


V3_ALWAYS = (3, 2)  # from this version on, a certificate without extensions is still v3


@cache
def _output(program: str) -> tuple[int, str, str]:
    try:
        done = processes.run([program, "version"], timeout=processes.READ)
    except KpkiError as exc:
        return -1, "", str(exc)
    return done.returncode, done.stdout, done.stderr


def read(program: str) -> tuple[int, ...]:
    """The version of the openssl at `program`: `openssl version` runs once per program in a
    process. KpkiError when it fails or the version is not one we can use."""
    code, out, err = _output(program)
    if code != 0:
        raise KpkiError(f"openssl: `openssl version` failed: {err.strip()!r}")
    return check(out)


def in_use() -> tuple[int, ...] | None:
    """The version of the openssl first on PATH (read once); None when there is none or it is
    not one we can use (what we print then names both behaviours)."""
    program = shutil.which("openssl")
    if program is None:
        return None
    try:
        return read(program)
    except KpkiError:
        return None


def _here(version: tuple[int, ...]) -> str:
    return f"OpenSSL {'.'.join(map(str, version))} here"


def bare_certificate(version: tuple[int, ...] | None) -> str:
    """What `x509 -req` writes when given no extensions, for `version` (None: unknown)."""
    if version is None:
        return (
            "a v1 certificate without extensions (OpenSSL 3.0 and 3.1), or a v3 one whose only "
            "extensions are key identifiers (3.2 and later)"
        )
    if version[:2] < V3_ALWAYS:
        return f"a v1 certificate without extensions ({_here(version)}; 3.2 and later write v3)"
    return (
        f"a v3 certificate whose only extensions are key identifiers ({_here(version)}; 3.0 "
        "and 3.1 write v1)"
    )


def bare_ca_leaves(version: tuple[int, ...] | None) -> str:
    """Whether kubectl (Go) and curl, "they", accept the leaves of a CA signed with `x509 -req
    -signkey` and no extensions (the document's CA), for `version` (None: unknown)."""
    if version is None:
        return (
            "OpenSSL 3.0 and 3.1 write such a CA as v1, whose leaves they accept; 3.2 and later "
            "write it as v3, whose leaves they refuse"
        )
    if version[:2] < V3_ALWAYS:
        return (
            f"{_here(version)} writes such a CA as v1, so they accept its leaves (3.2 and later "
            "write it as v3, whose leaves they refuse)"
        )
    return (
        f"{_here(version)} writes such a CA as v3 (with a subject key identifier), so they "
        "refuse its leaves too (3.0 and 3.1 write it as v1, whose leaves they accept)"
    )
