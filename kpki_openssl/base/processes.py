"""Every process the tool starts: an argv list (never a shell), stdin closed, one timeout
policy, and one error line when the program is missing, cannot start or does not answer.

Programs that should finish are `run` to completion with their output kept; servers (prove's
etcd and `openssl s_server`) are `start`ed with their output going to a log file and `stop`ped
with SIGTERM, then SIGKILL (`terminate` sends the SIGTERM alone, so several go down together).
Every openssl child gets the trust-store setting (base/trust_store_setting.py) unless the caller
passes an environment of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from kpki_openssl.base import trust_store_setting
from kpki_openssl.base.errors import KpkiError

# The timeout policy, in seconds, by what a program is doing.
MAKE = 600.0  # makes something: an RSA 4096 key takes seconds here, minutes on a slow board
READ = (
    120.0  # read-only: `openssl verify` of 2,000 certificates, `x509 -noout`, `kubectl config view`
)
CLIENT = 20.0  # a client against a server we started on loopback (prove)
LISTEN = 15.0  # a server we started has this long to listen on its port (prove)
STOP = 5.0  # a server's grace after SIGTERM, before SIGKILL


class CannotRun(KpkiError):
    """The program is not there or cannot be started: nothing can come from it."""


class TimedOut(KpkiError):
    """The program did not finish within its timeout and was stopped."""


@dataclass(frozen=True)
class Finished:
    """A program that ran to its end: its exit status and what it printed (as text)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the trust-store setting and `extra` added."""
    return {**os.environ, **trust_store_setting.ENV, **(extra or {})}


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Finished:
    """Run `argv` to its end with stdin closed and keep its output.

    `env` replaces the environment (default: `environment()`). CannotRun when the program is
    missing or cannot start; TimedOut, after killing it, when it runs past `timeout`."""
    argv = tuple(str(a) for a in argv)
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise CannotRun(f"{argv[0]} cannot run: not found on PATH") from None
    except PermissionError as exc:
        raise CannotRun(f"{argv[0]} cannot run: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise TimedOut(f"{' '.join(argv[:2])}: no answer within {timeout:.0f} s; stopped") from None
    return Finished(argv, done.returncode, done.stdout, done.stderr)


def start(
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Start a server in its own process group, stdin closed, stdout and stderr into `log`."""
    argv = tuple(str(a) for a in argv)
    try:
        with open(log, "ab") as sink:
            return subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env) if env is not None else environment(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except FileNotFoundError:
        raise CannotRun(f"{argv[0]} cannot run: not found on PATH") from None
    except PermissionError as exc:
        raise CannotRun(f"{argv[0]} cannot run: {exc.strerror}") from None


def terminate(proc: subprocess.Popen) -> None:
    """Send a started server's process group SIGTERM without waiting (stop() waits): servers
    that should go down together are each terminated before any is waited for."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)


def stop(proc: subprocess.Popen, grace: float = STOP) -> None:
    """Stop a started server and its process group: SIGTERM, then SIGKILL after `grace`."""
    if proc.poll() is not None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=grace)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with suppress(ProcessLookupError):
            proc.send_signal(sig)
