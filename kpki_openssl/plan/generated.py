"""Files whose contents exist only once `run` makes them: a token's random secret, a token of
an id and that secret, an expiry time counted from now.

The plan is pure, so it cannot hold a random secret or the time; it holds these actions
instead, each with the bash line that makes the same kind of file (what the dry run,
`commands.sh` and the exported script show: never the value). The runner makes them
(execute/generate.py). The secret is never printed: it goes into a file of mode 0600 that later
commands read (`kubectl ... --from-file=`, a kubeconfig's `tokenFile`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

SECRET_MODE = 0o600
HEX_BYTES = 8  # 16 hex digits: a bootstrap token's secret part is [a-z0-9]{16}


@dataclass(frozen=True)
class GeneratedFile:
    """A file the runner makes itself when the step runs; `path` is relative to the folder."""

    path: str
    mode: int = SECRET_MODE

    @property
    def writes(self) -> tuple[str, ...]:
        return (self.path,)

    def shell(self) -> str:
        """The bash line that makes such a file (no value in it)."""
        raise NotImplementedError


@dataclass(frozen=True)
class RandomHex(GeneratedFile):
    """`openssl rand -hex 8` without its newline: 16 random lower-case hex digits."""

    def shell(self) -> str:
        return f"openssl rand -hex {HEX_BYTES} | tr -d '\\n' > {shlex.quote(self.path)}\n"


@dataclass(frozen=True)
class JoinedToken(GeneratedFile):
    """`ID.SECRET`: the token id (public) and the secret read from `secret_file`."""

    token_id: str = ""
    secret_file: str = ""

    def shell(self) -> str:
        secret = f'"$(cat {shlex.quote(self.secret_file)})"'
        return f"printf '%s.%s' {shlex.quote(self.token_id)} {secret} > {shlex.quote(self.path)}\n"


@dataclass(frozen=True)
class ExpiresIn(GeneratedFile):
    """An RFC 3339 UTC time `hours` from when the step runs (a bootstrap token's expiration)."""

    hours: int = 24

    def shell(self) -> str:
        when = f"date -u -d '+{self.hours} hours' +%Y-%m-%dT%H:%M:%SZ"
        return f"{when} | tr -d '\\n' > {shlex.quote(self.path)}\n"
