"""Starting real servers in tests: free loopback ports, bounded waits, and always stopping them."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 (held open together, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


class Processes:
    """Processes a test started; `stop()` ends every one (TERM, then KILL after a bound)."""

    def __init__(self) -> None:
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, argv: Sequence[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
        out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        out.close()  # the child keeps its own descriptor
        self.started.append((proc, log))
        return proc

    def check_alive(self) -> None:
        """Fail with the log's tail if a process has already exited."""
        for proc, log in self.started:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}:\n{tail}")

    def stop(self, grace: float = 3.0) -> None:
        for proc, _log in self.started:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace
        for proc, _log in self.started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.started.clear()


def wait_for(
    ready: Callable[[], bool], what: str, timeout: float = 30.0, alive: Processes | None = None
) -> float:
    """Poll `ready` until true; fail after `timeout` seconds. Returns the seconds it took."""
    start = time.monotonic()
    while True:
        if alive is not None:
            alive.check_alive()
        if ready():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.3)


def single_etcd(
    etcd: str, name: str, data: Path, ports: tuple[int, int], ca: Path, server: Path, peer: Path
) -> list[str]:
    """argv of a one-member etcd on 127.0.0.1 with mutual TLS for clients and peers.

    `ports` is (client, peer); `server` and `peer` are certificate stems (X.crt, X.key)."""
    client_url, peer_url = (f"https://{LOOPBACK}:{port}" for port in ports)
    return [
        etcd, "--name", name, "--data-dir", str(data),
        "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"{name}={peer_url}",
        "--cert-file", f"{server}.crt", "--key-file", f"{server}.key",
        "--client-cert-auth", "--trusted-ca-file", str(ca),
        "--peer-cert-file", f"{peer}.crt", "--peer-key-file", f"{peer}.key",
        "--peer-client-cert-auth", "--peer-trusted-ca-file", str(ca),
    ]  # fmt: skip


def read_flags(path: Path) -> list[str]:
    """A generated flags file as argv items (comment lines dropped)."""
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def flag_values(path: Path) -> dict[str, str]:
    """--name=value lines of a flags file as {--name: value}."""
    return dict(item.split("=", 1) for item in read_flags(path))
