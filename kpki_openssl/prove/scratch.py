"""prove's scratch folder and the processes it starts there, all through base/processes.py.

One temporary folder per run holds etcd's data, the servers' logs, the kubeconfig copies and a
HOME for the clients (so kubectl reads no ~/.kube of the user's). Servers listen on free
127.0.0.1 ports, each in its own process group; clients run with only PATH and HOME set, a
timeout of processes.CLIENT, and their words kept. close() stops every server still running and
removes the folder; prover calls it in a `finally`, so Ctrl-C does too.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.base import processes

if TYPE_CHECKING:
    import subprocess

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held together, then released)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.3):
            return True
    except OSError:
        return False


class Scratch:
    """The run's temporary folder, the servers started in it, and the clients' environment."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kpki-prove-"))
        self.home = self.root / "home"
        self.home.mkdir()
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)}
        self.servers: list[subprocess.Popen] = []

    def which(self, name: str) -> str | None:
        """The program on the clients' PATH, or None."""
        return shutil.which(name, path=self.env["PATH"])

    def start(self, argv: Sequence[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
        """A server, its output going to `log`; stopped by stop() or close().

        It gets this process's environment as it is (no trust-store setting: openssl
        s_server verifies clients against -CAfile)."""
        proc = processes.start(argv, log, cwd=cwd, env=dict(os.environ))
        self.servers.append(proc)
        return proc

    def listening(
        self, proc: subprocess.Popen, port: int, seconds: float = processes.LISTEN
    ) -> bool:
        """Whether the server listens on `port` within `seconds` (False once it has exited)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if port_open(port):
                return True
            time.sleep(0.05)
        return False

    def stop(self, *procs: subprocess.Popen) -> None:
        """Stop these servers (every one started when none is named): each is sent SIGTERM
        before any is waited for, so a cluster's members go down together."""
        chosen = list(procs) or list(self.servers)
        for proc in chosen:
            processes.terminate(proc)
        for proc in chosen:
            processes.stop(proc)
            if proc in self.servers:
                self.servers.remove(proc)

    def run(
        self,
        argv: Sequence[str],
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """A client run to its end: (exit status, stdout, stderr). No answer within
        processes.CLIENT seconds is status 124 and says so; a program that cannot start is
        status 126 with the reason."""
        try:
            done = processes.run(
                argv, timeout=processes.CLIENT, cwd=cwd, env={**self.env, **(env or {})}
            )
        except processes.TimedOut:
            return 124, "", f"(no answer within {processes.CLIENT:.0f} s)"
        except processes.CannotRun as exc:
            return 126, "", str(exc)
        return done.returncode, done.stdout, done.stderr

    def close(self) -> None:
        """Stop every server still running and remove the folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
