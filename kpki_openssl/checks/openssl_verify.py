"""The read-only openssl calls of the checks (`openssl verify`): a timeout on each, the trust-store
setting of every other openssl we start, and one clear error when openssl cannot run at all.

subprocess with an argv list (never a shell), not plumbum: the checks then start without the
runner's imports.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kpki_openssl.base import trust_store_setting
from kpki_openssl.base.errors import KpkiError

TIMEOUT = 120.0  # seconds; one `openssl verify` of 2,000 certificates takes well under 5 s


class CannotRun(KpkiError):
    """The program is not there or cannot be started: no verdict can come from it."""


@dataclass(frozen=True)
class Captured:
    retcode: int
    stdout: str
    stderr: str


def capture(argv: tuple[str, ...], cwd: Path | None = None, timeout: float = TIMEOUT) -> Captured:
    """Run `argv` with stdin closed and keep its output; CannotRun when it cannot start."""
    env = {**os.environ, **trust_store_setting.ENV}
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except FileNotFoundError:
        raise CannotRun(f"{argv[0]} cannot run: not found on PATH") from None
    except PermissionError as exc:
        raise CannotRun(f"{argv[0]} cannot run: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise KpkiError(f"{argv[0]} {argv[1]}: no answer within {timeout:.0f} s; stopped") from None
    return Captured(done.returncode, done.stdout, done.stderr)
