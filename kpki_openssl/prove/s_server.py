"""`openssl s_server`, the stand-in for the API server and for each kubelet's HTTPS port.

It presents a certificate and key, requires a client certificate signed by the given CA (as
kube-apiserver's --client-ca-file and a kubelet's clientCAFile do), and answers GET requests
from a folder: a PodList at /api/v1/pods, and ok at /healthz.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kpki_openssl.prove.context import Context
from kpki_openssl.prove.results import Check, words
from kpki_openssl.prove.scratch import LOOPBACK, free_ports

POD_LIST = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}


def argv(openssl: str, port: int, cert: Path, key: Path, client_ca: Path) -> tuple[str, ...]:
    """The server's command line: serve the working folder on 127.0.0.1:port."""
    return (
        openssl, "s_server", "-WWW", "-quiet", "-accept", f"{LOOPBACK}:{port}",
        "-cert", str(cert), "-key", str(key), "-CAfile", str(client_ca),
        "-Verify", "1", "-verify_return_error",
    )  # fmt: skip


@contextmanager
def serving(
    context: Context, check: Check, cert: Path, key: Path, client_ca: Path
) -> Iterator[int | None]:
    """The server's port while it runs, stopped on leaving; None, with `check` reported as
    failed in openssl's words (or openssl missing), when it does not start."""
    openssl = context.program(check, "openssl")
    if openssl is None:
        context.add(check)
        yield None
        return
    scratch = context.scratch
    www = scratch.root / f"www-{cert.stem}"
    (www / "api" / "v1").mkdir(parents=True, exist_ok=True)
    (www / "api" / "v1" / "pods").write_text(json.dumps(POD_LIST))
    (www / "healthz").write_text("ok")
    (port,) = free_ports(1)
    command = argv(openssl, port, cert, key, client_ca)
    log = scratch.root / f"s_server-{cert.stem}.log"
    proc = scratch.start(command, log, cwd=www)
    if not scratch.listening(proc, port):
        check.argv = command
        check.judge(False, words(log.read_text(errors="replace")))
        context.add(check)
        yield None
        return
    try:
        yield port
    finally:
        scratch.stop(proc)
