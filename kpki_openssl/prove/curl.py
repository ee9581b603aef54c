"""curl as prove's client: the source document's own call,
`curl https://kube-apiserver:6443/api/v1/pods --key admin.key --cert admin.crt --cacert ca.crt`,
made by each name the API server is given, with the plan's files for that call (roles.py) and
--connect-to sending it to the s_server on 127.0.0.1. curl is OpenSSL's TLS client, so it
meets what Go's does not check (a keyUsage without digitalSignature, say).
"""

from __future__ import annotations

from kpki_openssl.base import processes
from kpki_openssl.prove.context import Context
from kpki_openssl.prove.results import ACCEPT, FAIL, words
from kpki_openssl.prove.scratch import LOOPBACK

PORT = 6443  # the port the document's call dials


def bracket(host: str) -> str:
    """A host as a URL writes it (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def call(context: Context, name: str, port: int) -> None:
    """The document's call by the name `name`, answered by the s_server on `port`."""
    host = bracket(name)
    check = context.check(f"the document's curl call to https://{host}:{PORT}", "curl", ACCEPT)
    curl = context.program(check, "curl")
    if curl is None:
        return
    files = context.roles.curl_files()
    if files is None:
        check.tool(FAIL, "the plan has no client certificate for this call")
        return
    key, cert, ca = files
    argv = (
        curl, "-q", "-sS", f"https://{host}:{PORT}/api/v1/pods",
        "--key", key, "--cert", cert, "--cacert", ca,
        "--connect-to", f"{host}:{PORT}:{LOOPBACK}:{port}",
        "--max-time", f"{processes.CLIENT - 5:.0f}",
    )  # fmt: skip
    code, stdout, stderr = context.run(check, argv, cwd=context.out)
    ok = code == 0 and '"PodList"' in stdout
    check.judge(ok, "PodList" if ok else words(stderr or stdout))
