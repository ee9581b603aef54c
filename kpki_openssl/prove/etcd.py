"""The `etcd` group: the etcd members start from the folder's etcd flags files, each on free
127.0.0.1 client and peer ports with its data in the scratch folder, and etcdctl puts a key
through every member holding the files kube-apiserver's flags name for etcd (--etcd-cafile,
--etcd-certfile, --etcd-keyfile; roles.py when they are missing).

Then what must not get in: a client certificate from another CA; and where etcd has a CA of its
own, a kubelet's certificate (from the cluster CA). Where one CA signs etcd's clients and the
kubelets, etcd lets the kubelet in, and prove says so in a note. Neither is tried when the API
server's own client did not get in. etcdctl only says it timed out; etcd's log says why it hung
up, and that is added to etcdctl's words.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.prove.context import Context
from kpki_openssl.prove.folder import read_flags
from kpki_openssl.prove.results import (
    ACCEPT,
    FAIL,
    NOT_RUN,
    NOTE,
    PASS,
    REFUSE,
    UNPROVEN,
    Check,
    words,
)
from kpki_openssl.prove.roles import ETCD_CLIENT, NODE
from kpki_openssl.prove.scratch import LOOPBACK, free_ports

if TYPE_CHECKING:
    import subprocess

FOREIGN = "a client certificate from another CA is refused by etcd"

# etcdctl (gRPC) retries a refused handshake until --command-timeout passes, so every refusal
# costs that whole bound, also where a folder's flaw makes a put fail that should get in (a
# put that gets in took 0.4-1 s here, the first after etcd starts included). Where etcd must
# refuse, the bound is 1 s and a refusal counts only when its words are the TLS handshake's
# (a slow put cut short by the bound is not a refusal).
_TIMEOUTS = {ACCEPT: ("--dial-timeout=1s", "--command-timeout=2s"),
             REFUSE: ("--dial-timeout=1s", "--command-timeout=1s")}  # fmt: skip


def etcdctl_timeouts(expect: str) -> tuple[str, ...]:
    """etcdctl's --dial-timeout and --command-timeout for a put that should get in (ACCEPT)
    or be refused (REFUSE)."""
    return _TIMEOUTS[expect]


def by_handshake(said: str) -> bool:
    """Whether a refusal's words (the client's and etcd's log) are the TLS handshake's."""
    return "tls:" in said or "x509" in said


class Member:
    """One etcd member of the folder: its flags file, name, ports, log and process."""

    def __init__(self, path: Path, client: int, peer: int) -> None:
        self.path = path
        self.flags = read_flags(path)
        self.name = self.flags.get("--name", path.stem)
        self.client, self.peer = client, peer
        self.log = Path()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.client}"

    @property
    def peer_url(self) -> str:
        return f"https://{LOOPBACK}:{self.peer}"


def run(context: Context) -> None:
    """Start the members, then let etcdctl in (or not)."""
    files = context.component("etcd")
    if not files:
        context.not_run[context.group] = _why_none(context)
        return
    context.server[context.group] = (
        f"a real etcd ({len(files)} member(s) from "
        + ", ".join(p.name for p in files)
        + "), and a real etcdctl as its client"
    )
    probe = context.check("start the etcd members", "etcd", ACCEPT, add=False)
    etcd = context.program(probe, "etcd")
    if etcd is None:
        context.add(probe)
        return
    ports = free_ports(2 * len(files))
    members = [Member(p, ports[i], ports[len(files) + i]) for i, p in enumerate(files)]
    trusted = _start(context, etcd, members)
    for member in members:
        assert member.proc is not None
        if not context.scratch.listening(member.proc, member.client):
            check = context.check(f"etcd member {member.name} starts", "etcd", ACCEPT)
            check.argv = tuple(member.proc.args)
            check.judge(False, words(member.log.read_text(errors="replace")))
            return
    ca, cert, key = context.apiserver_files(ETCD_CLIENT, context.roles.etcd_client)
    if ca is None or cert is None or key is None:
        said = f"no etcd client files in {context.apiserver_file}"
        context.check("etcdctl as the apiserver's etcd client", "etcdctl", ACCEPT).tool(FAIL, said)
        return
    who = context.folder.relative(cert)
    passed = [
        _etcdctl(
            context, f"etcdctl put through member {m.name} as {who}", ACCEPT, m, ca, cert, key
        ).passed
        for m in members
    ]
    first = members[0]
    if not passed[0]:
        for what in (FOREIGN, "a kubelet's certificate with etcd"):
            context.check(what, "etcdctl", REFUSE).tool(NOT_RUN, UNPROVEN)
        return
    _fca, fcert, fkey = context.foreign_client()
    _etcdctl(context, FOREIGN, REFUSE, first, ca, fcert, fkey)
    _kubelet(context, trusted, ca, first)


def _start(context: Context, etcd: str, members: list[Member]) -> Path | None:
    """Start every member (its files mapped to the folder's, its URLs on loopback); the
    folder's file the first --trusted-ca-file names."""
    initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
    trusted: Path | None = None
    scratch = context.scratch
    for member in members:
        argv = [etcd]
        for flag, value in member.flags.items():
            if flag.endswith("-file"):
                found = context.folder.find(value, f"{member.path.name} {flag}")
                if found is None:
                    continue
                if flag == "--trusted-ca-file":
                    trusted = trusted or found
                value = str(found)
            argv.append(f"{flag}={value}")
        argv += [
            f"--data-dir={scratch.root / ('etcd-' + member.name)}",
            f"--listen-client-urls={member.url}", f"--advertise-client-urls={member.url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={initial}", "--initial-cluster-state=new",
            "--initial-cluster-token=kpki-prove",
        ]  # fmt: skip
        member.log = scratch.root / f"etcd-{member.name}.log"
        member.proc = scratch.start(argv, member.log)
    return trusted


def _kubelet(context: Context, trusted: Path | None, ca: Path, member: Member) -> None:
    """Where etcd has its own CA, a kubelet's certificate (signed by the cluster CA) must be
    refused; with one CA for everything etcd accepts it, and prove says so."""
    kubelets = [c for c in context.plan.certs if c.common_name.startswith(NODE)]
    etcd_ca = context.cert_spec(trusted)
    if not kubelets or etcd_ca is None:
        return
    spec = kubelets[0]
    signer = context.roles.signer(spec)
    cert = context.made(spec.cert_file)
    if signer is None or cert is None:
        return
    key = context.out / spec.key_file
    if signer.name != etcd_ca.name:
        what = (
            f"{spec.cert_file} (signed by {signer.cert_file}) is refused by etcd, "
            f"which trusts only {etcd_ca.cert_file}"
        )
        _etcdctl(context, what, REFUSE, member, ca, cert, key)
        return
    what = (
        f"a kubelet's certificate with etcd: {etcd_ca.cert_file} signs etcd's clients and "
        "every kubelet (no separate etcd CA), so etcd lets it in"
    )
    check = _etcdctl(context, what, ACCEPT, member, ca, cert, key)
    if check.status in (PASS, FAIL):
        check.status = NOTE  # a fact about this recipe's design, not a pass or a failure


def _etcdctl(
    context: Context, what: str, expect: str, member: Member, ca: Path, cert: Path, key: Path
) -> Check:
    """`etcdctl put` through `member` holding (ca, cert, key)."""
    check = context.check(what, "etcdctl", expect)
    etcdctl = context.program(check, "etcdctl")
    if etcdctl is None:
        return check
    log = member.log
    before = log.stat().st_size if log.exists() else 0
    argv = (
        etcdctl, f"--endpoints={member.url}", *etcdctl_timeouts(expect),
        f"--cacert={ca}", f"--cert={cert}", f"--key={key}", "put", "/kpki/prove", "ok",
    )  # fmt: skip
    code, stdout, stderr = context.run(check, argv, env={"ETCDCTL_API": "3"})
    ok = code == 0 and stdout.strip() == "OK"
    said = "OK" if ok else words(stderr or stdout)
    if not ok:
        said += reason_logged(log, before)
    check.judge(ok, said)
    if check.passed and not ok and not by_handshake(said):
        check.status = FAIL  # refused, but not by the TLS handshake
    return check


def log_reason(log: Path, since: int) -> str:
    """What etcd wrote after `since` about a connection it hung up on (etcdctl itself only
    times out): the last reason that names TLS or x509, else the last reason at all (a client
    that gives up on a retried connection leaves a bare "EOF" after the handshake's words)."""
    try:
        with open(log, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    reasons = [
        _reason(ln)
        for ln in text.splitlines()
        if "rejected connection" in ln or "bad certificate" in ln
    ]
    if not reasons:
        return ""
    told = [r for r in reasons if "tls:" in r or "x509" in r]
    return f"; etcd's log: {(told or reasons)[-1]}"


def reason_logged(log: Path, since: int, seconds: float = 3.0) -> str:
    """log_reason, waited for up to `seconds` until it names TLS or x509: etcd writes the line
    as it hangs up, which may be after the client has given up, and later on a busy machine;
    what it has logged by then (maybe '') when it never does."""
    deadline = time.monotonic() + seconds
    while True:
        reason = log_reason(log, since)
        if by_handshake(reason) or time.monotonic() > deadline:
            return reason
        time.sleep(0.1)


def _reason(line: str) -> str:
    """The error quoted in one of etcd's log lines, unescaped, or the whole line."""
    # etcd 3.4: (error "remote error: ..."); etcd 3.5 logs JSON, "error":"... \"x509: ...\" ..."
    found = re.search(r'error[":]*\s*"((?:[^"\\]|\\.)*)"', line)
    if found is None:
        return line.strip()
    try:
        return json.loads(f'"{found.group(1)}"')
    except ValueError:
        return found.group(1)


def _why_none(context: Context) -> str:
    """Why there is no etcd flags file to start from: a later step makes them, or none does."""
    files = [c.file for c in context.plan.components if c.program == "etcd"]
    later = [f"{f} {context.later(f)}" for f in files if context.later(f)]
    if later:
        return "no etcd member to start: " + "; ".join(later)
    return "the plan makes no etcd flags file"
