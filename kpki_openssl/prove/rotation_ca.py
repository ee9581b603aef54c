"""The `rotation-ca` and `rotation-front-proxy` groups (opt-in): the rotation of the two CAs
kube-apiserver checks client certificates with, walked live on a scratch copy.

- `rotation-ca`: the CA its --client-ca-file names (`ca`). At each stage every kubeconfig the
  copy holds, exactly as the stage wrote it, is used by kubectl (`get --raw /version`); and each
  kubelet's side, both ways (rotation_kubelet.py).
- `rotation-front-proxy`: the CA its --requestheader-client-ca-file names (`front-proxy-ca`).
  At each stage curl presents the front-proxy client certificate its --proxy-client-cert-file
  and --proxy-client-key-file name, as the stage left them.

The stages trust, switch and remove run on the copy through the tool's own plan and runner.
After each, the stand-in (standin.py: a real etcd, no kube-apiserver) is started again from the
copy's kube-apiserver flags file as the stage left it: serving --tls-cert-file and
--tls-private-key-file, trusting the client CA the flag names. The clients dial 127.0.0.1 with
the name their kubeconfig dials (or the serving certificate's first DNS name) as the TLS server
name. Beside what every stage must let in, the refusals that teach: a client trusting only the
new CA at trust (a skipped stage), a kubeconfig kept from before trust at switch, a client
certificate kept from before switch at remove (etcd's log says why it hung up).

When the folder's CA is mid-rotation, a scratch PKI is built from the same recipe and values by
the tool's own plan and runner. A walk is bounded in time (rotation_walk.BOUND).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from kpki_openssl.plan import rotation
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import Plan
from kpki_openssl.prove import kubectl, rotation_kubelet
from kpki_openssl.prove.context import APISERVER, Context
from kpki_openssl.prove.folder import Folder, read_flags
from kpki_openssl.prove.results import ACCEPT, FAIL, REFUSE, Check
from kpki_openssl.prove.roles import FRONT_PROXY, SERVING, Roles
from kpki_openssl.prove.rotation_walk import (
    BOUND,
    at_rest,
    build,
    each_stage,
    installed,
    judge_version,
    keep,
    sign_client,
    took,
    walk_stage,
    write_kubeconfig,
)
from kpki_openssl.prove.standin import StandIn

STAND_IN = "etcd stands in for kube-apiserver; no kube-apiserver runs here"


@dataclass(frozen=True)
class Leg:
    """One CA kube-apiserver checks clients with: its flag, how to find it, what asks."""

    group: str
    flag: str  # kube-apiserver's flag naming the client CA file
    ca_of: Callable[[Roles], CertSpec | None]
    client_of: Callable[[Roles, Plan], CertSpec | None]  # the client whose old and new certs
    programs: tuple[str, ...]


@dataclass
class Walk:
    """One walk's state: the copy, its plan, the CA rotating, the stand-in, the probe files."""

    context: Context
    leg: Leg
    pki: Path
    plan: Plan
    ca: CertSpec
    client: CertSpec
    flags_file: str  # the copy's kube-apiserver flags file, folder-relative
    server_ca: CertSpec  # the CA that signs the stand-in's certificate
    name: str  # the name the clients dial when their kubeconfig names none
    stand_in: StandIn
    probe: Path
    deadline: float
    files: dict[str, Path] = field(default_factory=dict)

    def late(self) -> bool:
        return time.monotonic() > self.deadline

    def server_trust(self) -> Path:
        """What curl trusts the stand-in's certificate with: its CA, or the bundle while
        that CA is itself mid-rotation (the folder's, when the walk copied it so)."""
        if self.server_ca in rotation.rotatable(self.plan):
            bundle = self.pki / rotation.files(self.plan, self.server_ca.name).bundle
            if bundle.is_file():
                return bundle
        return self.pki / self.server_ca.cert_file

    def flags(self) -> dict[str, str]:
        return read_flags(self.pki / self.flags_file)

    def flag_file(self, flag: str) -> Path | None:
        """The copy's file kube-apiserver's `flag` names now."""
        value = self.flags().get(flag, "")
        return Folder(self.pki).find(value, f"{self.flags_file} {flag}") if value else None


def _first_client(roles: Roles, plan: Plan) -> CertSpec | None:
    """The first kubeconfig's client certificate (the admin's in the kubernetes recipe)."""
    first = plan.kubeconfigs[0] if plan.kubeconfigs else None
    return roles.by_file(first.cert_file) if first else None


CA = Leg("rotation-ca", SERVING.ca, lambda r: r.client_ca, _first_client,
         ("etcd", "kubectl", "openssl"))  # fmt: skip
FRONT = Leg("rotation-front-proxy", FRONT_PROXY.ca, lambda r: r.front_proxy_ca,
            lambda r, _p: r.front_proxy_client, ("etcd", "curl", "openssl"))  # fmt: skip


def run(context: Context) -> None:
    """Walk the cluster CA's rotation (`rotation-ca`)."""
    _walk(context, CA)


def run_front_proxy(context: Context) -> None:
    """Walk the front-proxy CA's rotation (`rotation-front-proxy`)."""
    _walk(context, FRONT)


def _walk(context: Context, leg: Leg) -> None:
    started = time.monotonic()
    why = _why_not(context, leg)
    if why:  # the group's one line: no check is run
        context.not_run[context.group] = why
        return
    if not installed(context, leg.programs):
        return
    walk = _prepare(context, leg, started)
    if walk is None:
        return
    try:
        each_stage(context, walk.late, lambda stage: _stage(walk, stage))
    finally:
        walk.stand_in.stop()
        took(context, started)


# ----- the scratch PKI


def _apiserver_file(plan: Plan) -> str:
    return next((c.file for c in plan.components if c.program == APISERVER), "")


def _roles(plan: Plan, folder: Path) -> Roles:
    flags_file = _apiserver_file(plan)
    path = folder / flags_file
    return Roles(plan, read_flags(path) if flags_file and path.is_file() else {})


def _rotating(leg: Leg, plan: Plan, folder: Path) -> CertSpec | None:
    """The leg's CA in `folder` as `plan` makes it, when it is a CA a rotation can take."""
    ca = leg.ca_of(_roles(plan, folder))
    return ca if ca is not None and ca in rotation.rotatable(plan) else None


def _why_not(context: Context, leg: Leg) -> str:
    """Why the folder gives this walk nothing to start from ('' when it does)."""
    flags_file = _apiserver_file(context.plan)
    if not flags_file or not (context.out / flags_file).is_file():
        return (
            "the folder has no kube-apiserver flags file: nothing says which files it serves "
            f"and trusts (its {leg.flag}) at each stage"
        )
    if _rotating(leg, context.plan, context.out) is None:
        return f"{flags_file} {leg.flag} names no self-signed CA of the plan that a rotation takes"
    return ""


def _prepare(context: Context, leg: Leg, started: float) -> Walk | None:
    """The scratch copy (or a scratch PKI when the CA is mid-rotation), its plan, the stand-in
    and the files kept from before the rotation."""
    plan = context.plan
    flags_file = _apiserver_file(plan)
    ca = _rotating(leg, plan, context.out)
    assert ca is not None  # _why_not said so
    root = context.scratch.root / leg.group
    root.mkdir()
    pki = root / "pki"
    check = context.check("a scratch copy of the folder", "kpki-openssl", ACCEPT)
    if at_rest(context, plan, ca.name):
        shutil.copytree(context.out, pki, symlinks=True)
        check.judge(True, f"copied {context.out}; {ca.name} ({leg.flag}) rotates")
    else:
        built = build(plan, pki)
        if isinstance(built, str):
            check.judge(False, f"the folder's {ca.name} is mid-rotation; no scratch PKI: {built}")
            return None
        plan = built
        check.judge(True, f"the folder's {ca.name} is mid-rotation: a scratch PKI built from "
                    f"recipe {plan.recipe} with the folder's values")  # fmt: skip
    roles = _roles(plan, pki)
    client, signer = leg.client_of(roles, plan), roles.signer(roles.serving)
    if client is None or signer is None or roles.serving is None:
        what = "client certificate" if client is None else "serving certificate"
        context.check(f"the walk's {what}", "kpki-openssl", ACCEPT).tool(
            FAIL, f"the plan has no {what} for {ca.name}'s walk"
        )
        return None
    walk = Walk(
        context, leg, pki, plan, ca, client, flags_file, signer,
        (roles.serving.sans.dns or ("kubernetes",))[0], StandIn(context, root),
        root / "probe", started + BOUND,
    )  # fmt: skip
    walk.probe.mkdir(mode=0o700)
    walk.files["old-ca"] = keep(pki / ca.cert_file, walk.probe / "old-ca.crt")
    walk.files["old-client"] = keep(pki / client.cert_file, walk.probe / "old-client.crt")
    walk.files["client-key"] = pki / client.key_file
    if leg is CA:
        rotation_kubelet.keep_old_client(walk)
    return walk


# ----- the stages


def _stage(walk: Walk, stage: str) -> bool:
    """One stage: its steps, the stand-in started again with its files, the clients asked."""
    context = walk.context
    f = walk_stage(context, walk.pki, walk.plan, walk.ca.name, stage, walk.files, walk.probe)
    if f is None:
        return False
    if not _restart(walk, stage):
        return False
    if walk.leg is CA:
        _ask_kubeconfigs(walk, stage)
        rotation_kubelet.ask(walk, stage)
    else:
        _ask_front_proxy(walk, stage)
    if stage == "trust":
        _ask_new_client(walk, f)
    _ask_kept(walk, stage)
    return True


def _restart(walk: Walk, stage: str) -> bool:
    """The stand-in started again from the copy's kube-apiserver flags as the stage left them."""
    files = [walk.flag_file(flag) for flag in (SERVING.cert, SERVING.key, walk.leg.flag)]
    shown = ", ".join(
        f"{flag} {p.name if p else 'missing'}"
        for flag, p in zip((SERVING.cert, SERVING.key, walk.leg.flag), files, strict=True)
    )
    check = walk.context.check(
        f"{stage}: the kube-apiserver stand-in (etcd) started again from {walk.flags_file} as "
        f"the stage left it: {shown}, client certificates required",
        "etcd",
        ACCEPT,
    )
    cert, key, client_ca = files
    if cert is None or key is None or client_ca is None:
        check.tool(FAIL, f"{walk.flags_file} names a file the copy does not hold")
        return False
    ok, said = walk.stand_in.restart(cert, key, client_ca, stage)
    check.argv = tuple(walk.stand_in.argv(cert, key, client_ca))
    check.judge(ok, said)
    return ok


def _kubeconfigs(walk: Walk) -> list[tuple[str, str]]:
    """(file, the host it dials) for each kubeconfig of the copy's plan."""
    out = [(k.file, urlsplit(k.server).hostname or "") for k in walk.plan.kubeconfigs]
    out += [(c.file, "") for c in walk.plan.components if c.program == "kubectl"]
    return [(file, host) for file, host in out if (walk.pki / file).is_file()]


def _server_name(walk: Walk, host: str) -> str:
    return host if host and "$" not in host else walk.name


def _ask_kubeconfigs(walk: Walk, stage: str) -> None:
    """kubectl with every kubeconfig of the copy, as the stage wrote it."""
    folder = Folder(walk.pki)
    for file, host in _kubeconfigs(walk):
        name = _server_name(walk, host)
        check = walk.context.check(
            f"{stage}: kubectl --kubeconfig {file} get --raw /version as the stage wrote it, "
            f"dialling 127.0.0.1 with --tls-server-name {name} ({STAND_IN})",
            "kubectl",
            ACCEPT,
        )
        config = kubectl.mapped(walk.context, walk.pki / file, f"{stage}-{file}", folder)
        _kubectl(walk, check, config, name)


def _kubectl(walk: Walk, check: Check, config: Path, name: str) -> None:
    argv = (
        walk.context.scratch.which("kubectl") or "kubectl", f"--kubeconfig={config}",
        *kubectl.server(walk.stand_in.port, name), "--request-timeout=5s",
        "get", "--raw", "/version",
    )  # fmt: skip
    judge_version(walk.context, check, walk.stand_in.log, argv)


def _curl(walk: Walk, check: Check, cert: Path, key: Path) -> None:
    name, port = walk.name, walk.stand_in.port
    argv = (
        walk.context.scratch.which("curl") or "curl", "-q", "-sS", "--max-time", "5",
        "--cacert", str(walk.server_trust()), "--cert", str(cert), "--key", str(key),
        "--connect-to", f"{name}:{port}:127.0.0.1:{port}", f"https://{name}:{port}/version",
    )  # fmt: skip
    judge_version(walk.context, check, walk.stand_in.log, argv)


def _ask_front_proxy(walk: Walk, stage: str) -> None:
    """curl with the front-proxy client files kube-apiserver's flags name now."""
    cert, key = (walk.flag_file(f) for f in (FRONT_PROXY.cert, FRONT_PROXY.key))
    cert = cert or walk.pki / walk.client.cert_file
    key = key or walk.pki / walk.client.key_file
    check = walk.context.check(
        f"{stage}: curl with {FRONT_PROXY.cert} {cert.name} as the stage left it, against the "
        f"stand-in trusting {walk.leg.flag} ({STAND_IN})",
        "curl",
        ACCEPT,
    )
    _curl(walk, check, cert, key)


def _probe(walk: Walk, stage: str, what: str, expect: str, ca: Path, cert: Path) -> None:
    """One probe client: kubectl with a kubeconfig of its own (rotation-ca) or curl."""
    check = walk.context.check(f"{stage}: {what}", "kubectl" if walk.leg is CA else "curl", expect)
    key = walk.files["client-key"]
    if walk.leg is CA:
        config = walk.probe / f"{stage}-{len(walk.context.checks)}.kubeconfig"
        _kubectl(walk, check, write_kubeconfig(config, walk.stand_in.url, ca, cert, key), walk.name)
    else:
        _curl(walk, check, cert, key)


def _ask_new_client(walk: Walk, f: rotation.Files) -> None:
    """At trust no leaf is from the new CA yet: the client's kept CSR signed by it in the probe
    folder shows the stand-in already lets such a certificate in."""
    out = walk.probe / "new-client.crt"
    check = walk.context.check(
        f"a client certificate from {f.new.cert_file} for the trust stage", "openssl", ACCEPT
    )
    pki = walk.pki
    if not sign_client(walk.context, check, pki / walk.client.csr_file, pki / f.new.cert_file,
                       pki / f.new.key_file, out):  # fmt: skip
        return
    _probe(walk, "trust", f"{walk.client.cert_file}'s key with a certificate from the new CA "
           f"(signed in the probe folder): the stand-in trusts it before switch presents one",
           ACCEPT, walk.files["bundle"], out)  # fmt: skip


def _ask_kept(walk: Walk, stage: str) -> None:
    """The refusals that teach, with files kept from before the rotation."""
    old, client = walk.files["old-ca"], walk.files["old-client"]
    now = walk.pki / walk.ca.cert_file  # after remove: the new CA under the old name
    if stage == "trust" and walk.leg is CA:
        _probe(walk, stage, "a client trusting only the new CA: a skipped stage, the server "
               "still presents the old CA's certificate", REFUSE, walk.files["new-ca"],
               client)  # fmt: skip
    elif stage == "switch":
        if walk.leg is CA:
            _probe(walk, stage, "the kubeconfig kept from before trust (the old CA only): why "
                   "trust comes first, the server now presents the new CA's certificate",
                   REFUSE, old, client)  # fmt: skip
        _probe(walk, stage, f"{walk.client.cert_file} kept from before switch (the old CA): "
               f"{walk.leg.flag} still names the bundle", ACCEPT, walk.files["bundle"],
               client)  # fmt: skip
    elif stage == "remove":
        _probe(walk, stage, f"{walk.client.cert_file} kept from before switch (the old CA): "
               f"{walk.leg.flag} names the new CA alone", REFUSE, now, client)  # fmt: skip
