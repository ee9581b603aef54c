"""The `rotation` group (opt-in: `prove --only rotation`): the etcd CA's rotation walked live.

In a scratch copy of the folder (the folder itself is never written), three etcd members run
with client and peer mutual TLS from the copy's etcd flags files on free 127.0.0.1 ports. The
stages trust, switch and remove run on the copy through the tool's own plan and runner (the
steps `rotate-ca CA --stage S` runs); after each stage every member is restarted in turn with
that stage's files, and an etcdctl put through it and a get through the next member show the
cluster kept its quorum. At each stage the programs are asked, each with the stage's expected
answer:

- kubectl with three kubeconfigs trusting the old CA, the bundle (old + new) and the new CA,
  `kubectl get --raw /version` against an etcd member: etcd stands in as the TLS endpoint
  (it serves /version over the same Go TLS); no kube-apiserver runs here;
- etcdctl and curl with a client certificate from the old CA and one from the new;
- the failure a skipped stage causes: a client trusting only the new CA against a server still
  on the old certificate.

When the folder has fewer than three etcd members (or its etcd CA is mid-rotation), the scratch
PKI is built from the same recipe and values with etcd_peers set to three names, by the tool's
own plan and runner. The walk is bounded in time (BOUND seconds); what did not run in time is
reported as not run, and a note gives the seconds it took.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.plan import rotation
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import Plan
from kpki_openssl.prove.context import Context
from kpki_openssl.prove.etcd import reason_logged
from kpki_openssl.prove.folder import Folder, read_flags
from kpki_openssl.prove.results import ACCEPT, FAIL, NOT_RUN, REFUSE, Check, words
from kpki_openssl.prove.rotation_walk import (
    BOUND,
    at_rest,
    build,
    each_stage,
    installed,
    judge_version,
    keep,
    late,
    sign_client,
    took,
    walk_stage,
    write_kubeconfig,
)
from kpki_openssl.prove.scratch import LOOPBACK, free_ports

if TYPE_CHECKING:
    import subprocess

MEMBERS = 3
PEERS = ("etcd1", "etcd2", "etcd3")  # the scratch PKI's members, when one is built
PROGRAMS = ("etcd", "etcdctl", "kubectl", "curl", "openssl")
STAND_IN = "etcd stands in as the TLS endpoint; no kube-apiserver runs here"

# stage -> (old-CA kubeconfig, bundle kubeconfig, new-CA kubeconfig) and
# (old-CA client, new-CA client): what each must do
KUBECTL_EXPECT = {
    "trust": (ACCEPT, ACCEPT, REFUSE),
    "switch": (REFUSE, ACCEPT, ACCEPT),
    "remove": (REFUSE, ACCEPT, ACCEPT),
}
CLIENT_EXPECT = {
    "trust": (ACCEPT, ACCEPT),
    "switch": (ACCEPT, ACCEPT),
    "remove": (REFUSE, ACCEPT),
}
WHY = {
    ("trust", "new"): "a skipped stage: the server still presents the old CA's certificate",
    ("switch", "old"): "why trust comes first: the server now presents the new CA's certificate",
    ("remove", "old"): "the old CA is trusted nowhere now",
}  # why a kubeconfig is refused


@dataclass
class Member:
    """One etcd member of the scratch copy: its flags file, ports and process."""

    flags_file: str
    name: str
    client: int
    peer: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.client}"

    @property
    def peer_url(self) -> str:
        return f"https://{LOOPBACK}:{self.peer}"


@dataclass
class Walk:
    """The walk's state: the copy, its plan, the CA rotating, the members, the probe files."""

    context: Context
    pki: Path
    plan: Plan
    ca: CertSpec
    client: CertSpec  # the apiserver's etcd client: the old- and new-CA client certificates
    members: list[Member]
    probe: Path
    deadline: float
    files: dict[str, Path] = field(default_factory=dict)

    def late(self) -> bool:
        return time.monotonic() > self.deadline


def run(context: Context) -> None:
    """Walk the etcd CA's rotation on a scratch copy; every check is added to `context`."""
    started = time.monotonic()
    if not installed(context, PROGRAMS):
        return
    walk = _prepare(context, started)
    if walk is None:
        return
    try:
        if _start_members(walk):
            each_stage(context, walk.late, lambda stage: _stage(walk, stage))
    finally:
        for member in walk.members:  # one at a time: a member left alone stops at once
            if member.proc is not None:
                context.scratch.stop(member.proc)
        took(context, started)


# ----- the scratch PKI


def _etcd_ca(plan: Plan, folder: Path) -> tuple[CertSpec | None, list[str]]:
    """The CA that signs the etcd members' serving certificates, and the members' flags
    files (folder-relative), as the plan writes them."""
    files = [c.file for c in plan.components if c.program == "etcd"]
    if not files or not (folder / files[0]).is_file():
        return None, files
    cert = Folder(folder).find(read_flags(folder / files[0]).get("--cert-file", ""), files[0])
    by_file = {c.cert_file: c for c in plan.certs}
    spec = by_file.get(cert.relative_to(folder.resolve()).as_posix()) if cert else None
    signer = spec.ca if spec else None
    cas = {c.name: c for c in rotation.rotatable(plan)}
    return cas.get(signer or ""), files


def _prepare(context: Context, started: float) -> Walk | None:
    """The scratch copy (or a scratch PKI with three members), its plan and the probe files."""
    root = context.scratch.root / "rotation"
    root.mkdir()
    pki = root / "pki"
    plan = context.plan
    ca, members = _etcd_ca(plan, context.out)
    check = context.check(
        "a scratch copy of the folder with three etcd members", "kpki-openssl", ACCEPT
    )
    idle = ca is not None and at_rest(context, plan, ca.name)
    if ca is not None and len(members) >= MEMBERS and idle:
        shutil.copytree(context.out, pki, symlinks=True)
        check.judge(True, f"copied {context.out}; its etcd CA {ca.name} rotates")
    else:
        reason = (
            f"the folder has {len(members)} etcd member(s)"
            if idle or ca is None
            else f"the folder's {ca.name} is mid-rotation"
        )
        built = (
            build(plan, pki, {"etcd_peers": PEERS})
            if "etcd_peers" in plan.values
            else f"recipe {plan.recipe} has no etcd_peers variable"
        )
        if isinstance(built, str):
            check.judge(False, f"{reason}; no scratch PKI: {built}")
            return None
        plan = built
        ca, members = _etcd_ca(plan, pki)
        check.judge(
            ca is not None,
            f"{reason}: a scratch PKI built from recipe {plan.recipe} with the folder's values "
            f"and etcd_peers={','.join(PEERS)}",
        )
        if ca is None:
            return None
    client = next(
        (s for s in plan.certs if s.ca == ca.name and s.name == context.roles.etcd_client.name),
        None,
    ) if context.roles.etcd_client else None  # fmt: skip
    if client is None:
        context.check("the apiserver's etcd client certificate", "etcdctl", ACCEPT, FAIL,
                      f"no client certificate signed by {ca.name} in the plan")  # fmt: skip
        return None
    ports = free_ports(2 * len(members))
    walk = Walk(
        context,
        pki,
        plan,
        ca,
        client,
        [
            Member(f, read_flags(pki / f).get("--name", Path(f).stem), ports[i], ports[-1 - i])
            for i, f in enumerate(members)
        ],
        root / "probe",
        started + BOUND,
    )
    walk.probe.mkdir(mode=0o700)
    walk.files["old-ca"] = keep(pki / ca.cert_file, walk.probe / "old-ca.crt")
    walk.files["old-client"] = keep(pki / client.cert_file, walk.probe / "old-client.crt")
    walk.files["client-key"] = pki / client.key_file
    return walk


# ----- the members


def _argv(walk: Walk, member: Member, etcd: str) -> list[str]:
    """The member's command line from its flags file as the copy holds it now."""
    folder = Folder(walk.pki)
    argv = [etcd]
    for flag, value in read_flags(walk.pki / member.flags_file).items():
        if flag.endswith("-file"):
            found = folder.find(value, f"{member.flags_file} {flag}")
            value = str(found) if found else value
        argv.append(f"{flag}={value}")
    initial = ",".join(f"{m.name}={m.peer_url}" for m in walk.members)
    argv += [
        f"--data-dir={walk.pki.parent / ('etcd-' + member.name)}",
        f"--listen-client-urls={member.url}", f"--advertise-client-urls={member.url}",
        f"--listen-peer-urls={member.peer_url}",
        f"--initial-advertise-peer-urls={member.peer_url}",
        f"--initial-cluster={initial}", "--initial-cluster-state=new",
        "--initial-cluster-token=kpki-rotation",
        # half etcd's default timers: a leader stopping hands over in ~0.5 s, not ~1 s
        "--heartbeat-interval=50", "--election-timeout=500",
    ]  # fmt: skip
    return argv


def _launch(walk: Walk, member: Member) -> None:
    scratch = walk.context.scratch
    etcd = scratch.which("etcd") or "etcd"
    member.proc = scratch.start(_argv(walk, member, etcd), _log(walk, member))


def _start_members(walk: Walk) -> bool:
    """The three members start with the folder's files as they are, then a put and a get."""
    for member in walk.members:
        _launch(walk, member)
    for member in walk.members:
        check = walk.context.check(
            f"etcd member {member.name} starts with client and peer mTLS", "etcd", ACCEPT
        )
        assert member.proc is not None
        check.argv = tuple(member.proc.args)
        ok = walk.context.scratch.listening(member.proc, member.client)
        check.judge(ok, "listening" if ok else _log_tail(walk, member))
        if not ok:
            return False
    return _put_get(walk, walk.members[0], "before the rotation")


def _log(walk: Walk, member: Member) -> Path:
    return walk.pki.parent / f"etcd-{member.name}.log"


def _log_tail(walk: Walk, member: Member) -> str:
    log = _log(walk, member)
    return words(log.read_text(errors="replace")) if log.exists() else "no log"


def _restart(walk: Walk, member: Member, stage: str) -> bool:
    """Stop one member, start it with this stage's files, then put through it and get
    through the next (a majority stayed up meanwhile)."""
    assert member.proc is not None
    walk.context.scratch.stop(member.proc)
    _launch(walk, member)
    assert member.proc is not None
    if not walk.context.scratch.listening(member.proc, member.client):
        check = walk.context.check(
            f"{stage}: member {member.name} restarts with this stage's files", "etcd", ACCEPT
        )
        check.argv = tuple(member.proc.args)
        check.judge(False, _log_tail(walk, member))
        return False
    return _put_get(walk, member, f"{stage}: member {member.name} restarted with its files")


def _apiserver_client(walk: Walk) -> tuple[Path, Path, Path]:
    """The (CA, certificate, key) the copy's kube-apiserver flags name for etcd now."""
    folder = Folder(walk.pki)
    apiserver = [c.file for c in walk.plan.components if c.program == "kube-apiserver"]
    flags = read_flags(walk.pki / apiserver[0]) if apiserver else {}
    found = []
    for flag, fallback in (
        ("--etcd-cafile", walk.ca.cert_file),
        ("--etcd-certfile", walk.client.cert_file),
        ("--etcd-keyfile", walk.client.key_file),
    ):
        path = folder.find(flags[flag], flag) if flag in flags else None
        found.append(path or walk.pki / fallback)
    return found[0], found[1], found[2]


def _put_get(walk: Walk, member: Member, when: str) -> bool:
    """etcdctl put through `member`, get through the next, with the apiserver's etcd files."""
    index = walk.members.index(member)
    other = walk.members[(index + 1) % len(walk.members)]
    ca, cert, key = _apiserver_client(walk)
    key_name = f"/kpki/rotation/{len(walk.context.checks)}"
    check = walk.context.check(
        f"{when}: etcdctl put through {member.name}, get through {other.name} "
        f"(kube-apiserver's etcd files: {ca.name}, {cert.name})",
        "etcdctl",
        ACCEPT,
    )
    put = _etcdctl(walk, check, member, ca, cert, key, "put", key_name, "ok", tries=5)
    if put[0] != 0:
        check.judge(False, put[1])
        return False
    got = _etcdctl(
        walk, check, other, ca, cert, key, "get", key_name, "--print-value-only", tries=5
    )
    ok = got[0] == 0 and got[1].strip() == "ok"
    check.judge(ok, "put OK, get ok" if ok else got[1])
    return ok


def _etcdctl(
    walk: Walk,
    check: Check,
    member: Member,
    ca: Path,
    cert: Path,
    key: Path,
    *command: str,
    tries: int = 1,
) -> tuple[int, str]:
    """etcdctl through `member`: (status, its output or its words, with etcd's log line on
    why it hung up); `tries` for a member that has just restarted and may still be finding
    its leader (a single try is a probe: it gives up sooner)."""
    etcdctl = walk.context.scratch.which("etcdctl") or "etcdctl"
    log = _log(walk, member)
    since = log.stat().st_size if log.exists() else 0
    wait = "--command-timeout=3s" if tries > 1 else "--command-timeout=1500ms"
    argv = (
        etcdctl, f"--endpoints={member.url}", "--dial-timeout=1s", wait,
        f"--cacert={ca}", f"--cert={cert}", f"--key={key}", *command,
    )  # fmt: skip
    code, said = 1, ""
    for attempt in range(tries):
        if attempt:
            time.sleep(0.3)
        code, stdout, stderr = walk.context.run(check, argv, env={"ETCDCTL_API": "3"})
        if code == 0:
            return 0, stdout
        said = words(stderr or stdout)
    return code, said + reason_logged(log, since)


# ----- the stages


def _stage(walk: Walk, stage: str) -> bool:
    """One stage: its steps, every member restarted in turn, then the programs asked."""
    context = walk.context
    f = walk_stage(context, walk.pki, walk.plan, walk.ca.name, stage, walk.files, walk.probe)
    if f is None:
        return False
    if stage == "trust":
        walk.files["new-client"] = _new_client(walk, f)
    elif stage == "switch":
        walk.files["new-client"] = keep(
            walk.pki / walk.client.cert_file, walk.probe / "new-client.crt"
        )
    for member in walk.members:
        if walk.late():
            context.check(f"{stage}: restart {member.name}", "etcd", ACCEPT, NOT_RUN, late())
            return False
        if not _restart(walk, member, stage):
            return False
    _ask(walk, stage)
    return True


def _new_client(walk: Walk, f: rotation.Files) -> Path:
    """Before switch no leaf is from the new CA: the client's kept CSR signed by the new CA
    in the probe folder (the copy is not touched), to show the servers already trust it."""
    out = walk.probe / "new-client-probe.crt"
    check = walk.context.check(
        f"a client certificate from {f.new.cert_file} for the trust stage", "openssl", ACCEPT
    )
    pki = walk.pki
    sign_client(walk.context, check, pki / walk.client.csr_file, pki / f.new.cert_file,
                pki / f.new.key_file, out)  # fmt: skip
    return out


def _ask(walk: Walk, stage: str) -> None:
    """kubectl with the three kubeconfigs, etcdctl and curl with both clients, at `stage`."""
    member = walk.members[0]
    client = walk.files["new-client" if stage != "trust" else "old-client"]
    for which, expect in zip(("old", "bundle", "new"), KUBECTL_EXPECT[stage], strict=True):
        ca = walk.files["old-ca" if which == "old" else which if which == "bundle" else "new-ca"]
        _kubectl(walk, stage, which, expect, ca, client, member)
    for which, expect in zip(("old", "new"), CLIENT_EXPECT[stage], strict=True):
        cert = walk.files[f"{which}-client"]
        _client(walk, stage, which, expect, cert, member, "etcdctl")
        _client(walk, stage, which, expect, cert, member, "curl")
    if stage == "trust":  # the skipped stage, with etcdctl too
        check = walk.context.check(
            f"trust: etcdctl trusting only the new CA against {member.name} ("
            + WHY[("trust", "new")]
            + ")",
            "etcdctl",
            REFUSE,
        )
        code, said = _etcdctl(
            walk, check, member, walk.files["new-ca"], client, walk.files["client-key"],
            "get", "/kpki", "--prefix", "--keys-only",
        )  # fmt: skip
        check.judge(code == 0, "answered" if code == 0 else said)


def _kubectl(
    walk: Walk, stage: str, which: str, expect: str, ca: Path, cert: Path, member: Member
) -> None:
    trusts = {"old": "the old CA", "bundle": "the bundle (old + new)", "new": "the new CA"}[which]
    why = WHY.get((stage, which), "")
    check = walk.context.check(
        f"{stage}: kubectl get --raw /version with the kubeconfig trusting {trusts}, against "
        f"etcd member {member.name} ({STAND_IN})" + (f"; {why}" if why else ""),
        "kubectl",
        expect,
    )
    config = write_kubeconfig(
        walk.probe / f"{stage}-{which}.kubeconfig", member.url, ca, cert, walk.files["client-key"]
    )
    kubectl = walk.context.scratch.which("kubectl") or "kubectl"
    argv = (kubectl, f"--kubeconfig={config}", "--request-timeout=5s", "get", "--raw", "/version")
    judge_version(walk.context, check, _log(walk, member), argv)


def _client(
    walk: Walk, stage: str, which: str, expect: str, cert: Path, member: Member, program: str
) -> None:
    """etcdctl or curl with the old- or new-CA client certificate, trusting the bundle."""
    why = "etcd now trusts the new CA alone" if (stage, which) == ("remove", "old") else ""
    check = walk.context.check(
        f"{stage}: {program} with a client certificate from the {which} CA against "
        f"{member.name}" + (f" ({why})" if why else ""),
        program,
        expect,
    )
    ca, key = walk.files["bundle"], walk.files["client-key"]
    if program == "etcdctl":
        code, said = _etcdctl(
            walk, check, member, ca, cert, key, "get", "/kpki", "--prefix", "--keys-only"
        )
        check.judge(code == 0, "answered" if code == 0 else said)
        return
    curl = walk.context.scratch.which("curl") or "curl"
    argv = (
        curl, "-q", "-sS", "--max-time", "5", "--cacert", str(ca), "--cert", str(cert),
        "--key", str(key), f"{member.url}/version",
    )  # fmt: skip
    judge_version(walk.context, check, _log(walk, member), argv)
