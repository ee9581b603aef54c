"""Which openssl is on PATH, and whether the plan's commands work with it.

The plan needs OpenSSL 3.0 or newer: before 3.0 (and in LibreSSL), `openssl x509 -req -CA ...`
without -CAserial/-CAcreateserial stops with "ca.srl: No such file or directory", because only
3.0 picks a random serial by itself. Every other flag we use (genrsa -out, req -new -key -subj
-config, x509 -req -signkey -days -extfile -extensions) is older. We never use -copy_extensions.
Pure: the runner runs `openssl version` and hands the text here.
"""

from __future__ import annotations

import re

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
