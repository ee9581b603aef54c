"""A stand-in for kube-apiserver's TLS endpoint: one real etcd serving the API server's
certificate and key, asking every client for a certificate from the client CA it is given. etcd
answers /version over Go's TLS, as kube-apiserver does, so `kubectl get --raw /version` and
curl meet the same handshake; no kube-apiserver runs here. It reads its files only at start,
so it is started again after each stage, as an API server would be restarted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.prove.results import words
from kpki_openssl.prove.scratch import LOOPBACK, free_ports

if TYPE_CHECKING:
    import subprocess

    from kpki_openssl.prove.context import Context


@dataclass
class StandIn:
    """One etcd on free 127.0.0.1 ports, its data and logs under `root`."""

    context: Context
    root: Path
    name: str = "apiserver-stand-in"
    proc: subprocess.Popen | None = None
    log: Path = Path()

    def __post_init__(self) -> None:
        self.port, self.peer = free_ports(2)

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def argv(self, cert: Path, key: Path, client_ca: Path) -> list[str]:
        peer = f"http://{LOOPBACK}:{self.peer}"  # a single member: no peer traffic to secure
        return [
            self.context.scratch.which("etcd") or "etcd",
            f"--name={self.name}", f"--data-dir={self.root / (self.name + '-data')}",
            f"--listen-client-urls={self.url}", f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.name}={peer}",
            f"--cert-file={cert}", f"--key-file={key}",
            "--client-cert-auth", f"--trusted-ca-file={client_ca}",
            "--heartbeat-interval=50", "--election-timeout=500",
            # no gateway: it would dial etcd itself with the serving certificate as a client
            # (no clientAuth), and its refusals would fill the log the reasons are read from
            "--enable-grpc-gateway=false",
        ]  # fmt: skip

    def restart(self, cert: Path, key: Path, client_ca: Path, tag: str) -> tuple[bool, str]:
        """Stop it if it runs, start it with these files (its log named by `tag`): (listening,
        the words that say so or etcd's own)."""
        self.stop()
        self.log = self.root / f"{self.name}-{tag}.log"
        self.proc = self.context.scratch.start(self.argv(cert, key, client_ca), self.log)
        if self.context.scratch.listening(self.proc, self.port):
            return True, f"listening on {LOOPBACK}:{self.port}"
        said = self.log.read_text(errors="replace") if self.log.exists() else "no log"
        return False, words(said)

    def stop(self) -> None:
        if self.proc is not None:
            self.context.scratch.stop(self.proc)
            self.proc = None
