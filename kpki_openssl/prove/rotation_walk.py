"""What the live rotation walks share (prove/rotation.py walks the etcd CA, rotation_ca.py the
cluster CA and the front-proxy CA): the time bound, the scratch PKI, a stage run on it through
the tool's own plan and runner, the probe files kept between stages, a kubeconfig written for
one probe, and a client asking an etcd for /version judged by its words and etcd's log.
"""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.plan import rotation
from kpki_openssl.prove.etcd import by_handshake, reason_logged
from kpki_openssl.prove.results import ACCEPT, FAIL, NOT_RUN, NOTE, Check, words

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from kpki_openssl.plan.steps import Plan
    from kpki_openssl.prove.context import Context

BOUND = 120.0  # seconds a walk may take


def late() -> str:
    """What a check the bound left out says."""
    return f"not run: the walk's bound of {BOUND:.0f} s was reached"


def installed(context: Context, programs: Sequence[str]) -> bool:
    """One check that every program of the walk is on PATH (it names the first missing one)."""
    start = context.check("the programs of the rotation walk are installed", "etcd", ACCEPT)
    for name in programs:
        if context.program(start, name) is None:
            start.program = name
            return False
    start.judge(True, ", ".join(programs))
    return True


def each_stage(
    context: Context, past_bound: Callable[[], bool], stage: Callable[[str], bool]
) -> None:
    """trust, switch and remove in turn, until one fails; a stage the bound leaves out is
    reported as not run."""
    for name in rotation.STAGES:
        if past_bound():
            context.check(f"stage {name}", "etcd", ACCEPT, NOT_RUN, late())
            continue
        if not stage(name):
            return


def took(context: Context, started: float) -> None:
    """The walk's last note: the seconds it took, against its bound."""
    seconds = time.monotonic() - started
    context.check(
        f"the rotation walk took {seconds:.1f} s (bound {BOUND:.0f} s)", "etcd", ACCEPT, NOTE
    )


def at_rest(context: Context, plan: Plan, ca: str) -> bool:
    """Whether CA `ca` of the folder is not mid-rotation."""
    from kpki_openssl.checks import rotation_state

    return rotation_state.status(context.out, plan, ca).phase == "idle"


def build(plan: Plan, pki: Path, values: Mapping[str, object] | None = None) -> Plan | str:
    """The folder's recipe and values (with `values` over them), built into `pki` by the
    Runner; a one-line reason when it cannot be."""
    from kpki_openssl.base.errors import KpkiError
    from kpki_openssl.execute.runner import Runner
    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe.load import load_recipe

    try:
        full = build_plan(load_recipe(plan.recipe), {**plan.values, **(values or {})})
        Runner(pki, report=lambda _line: None).run(full)
    except KpkiError as exc:
        return str(exc)
    return full


def run_stage(context: Context, pki: Path, plan: Plan, ca: str, stage: str) -> bool:
    """The stage's steps on the copy, worked out and run as `rotate-ca CA --stage STAGE` does
    (checks.rotation_stage, execute.rotation); one check says it ran, or why not."""
    from kpki_openssl.base.errors import KpkiError
    from kpki_openssl.checks import rotation_stage
    from kpki_openssl.execute.rotation import run_stage as run

    check = context.check(
        f"rotate-ca {ca} --stage {stage} on the scratch copy", "kpki-openssl", ACCEPT
    )
    try:
        where = rotation_stage.position(pki, plan, ca)
        steps = rotation_stage.stage(pki, plan, where, stage)
        run(pki, plan, steps, lambda _line: None, f"prove: rotate-ca {ca} --stage {stage}")
    except KpkiError as exc:
        check.judge(False, str(exc))
        return False
    check.judge(True, "done")
    return True


def walk_stage(
    context: Context, pki: Path, plan: Plan, ca: str, stage: str, kept: dict[str, Path], probe: Path
) -> rotation.Files | None:
    """run_stage; after trust, the new CA and the bundle kept in `probe` (as `kept`'s "new-ca"
    and "bundle") for the probes of the later stages. The rotation's files, or None when the
    stage did not run."""
    if not run_stage(context, pki, plan, ca, stage):
        return None
    f = rotation.files(plan, ca)
    if stage == "trust":
        kept["new-ca"] = keep(pki / f.new.cert_file, probe / "new-ca.crt")
        kept["bundle"] = keep(pki / f.bundle, probe / "bundle.crt")
    return f


def keep(source: Path, target: Path) -> Path:
    """A copy of `source` in the probe folder, as it is now."""
    shutil.copyfile(source, target)
    return target


def sign_client(
    context: Context, check: Check, csr: Path, ca_cert: Path, ca_key: Path, out: Path
) -> bool:
    """A client certificate for a kept CSR signed by `ca_cert` into the probe folder (the copy
    is not touched): what no stage makes before switch."""
    ext = out.with_suffix(".ext")
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    code, _stdout, stderr = context.run(
        check,
        (
            context.scratch.which("openssl") or "openssl", "x509", "-req", "-in", str(csr),
            "-CA", str(ca_cert), "-CAkey", str(ca_key),
            "-set_serial", "1", "-days", "1", "-extfile", str(ext), "-out", str(out),
        ),
    )  # fmt: skip
    check.judge(code == 0, "signed" if code == 0 else words(stderr))
    return code == 0


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path) -> Path:
    """A kubeconfig trusting `ca`, presenting `cert` and `key`, dialling `server` (all data
    embedded, so it stays as it is while the copy's files change)."""

    def b64(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: probe\n  cluster:\n    server: {server}\n"
        f"    certificate-authority-data: {b64(ca)}\n"
        f"users:\n- name: client\n  user:\n    client-certificate-data: {b64(cert)}\n"
        f"    client-key-data: {b64(key)}\n"
        "contexts:\n- name: probe\n  context: {cluster: probe, user: client}\n"
        "current-context: probe\n"
    )
    path.chmod(0o600)
    return path


def log_size(log: Path) -> int:
    """Where a server's log ends now: what it writes next is about the next client."""
    return log.stat().st_size if log.exists() else 0


def judge_version(context: Context, check: Check, log: Path, argv: tuple[str, ...]) -> None:
    """Run a client asking an etcd for /version: accepted when etcd answers, refused with the
    client's words and the reason etcd logged (in `log`) as it hung up. A refusal that is not
    the TLS handshake's (no `tls:` or `x509:` in either) proves nothing: it fails."""
    since = log_size(log)
    code, stdout, stderr = context.run(check, argv, cwd=context.scratch.home)
    if code == 0 and "etcdserver" in stdout:
        check.judge(True, " ".join(stdout.split()))
        return
    said = words(stderr or stdout) + reason_logged(log, since)
    check.judge(False, said)
    if check.passed and not by_handshake(said):
        check.status = FAIL  # refused, but not by the TLS handshake
