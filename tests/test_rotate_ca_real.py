"""`rotate-ca` with real openssl and kubectl: trust, switch, remove; a SIGKILL at every step of
each stage followed by a re-run that finishes it; remove refused while a certificate still
chains to the old CA; after switch every certificate verifies against the new CA alone
(`openssl verify -x509_strict`); the old CA key byte for byte under .kpki/replaced/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, need_program, run_cli
from tests.test_crash_real import kill, log_entries

SETS = ("--set", "nodes=n1", "--set", "key_size=1024")


def _build(tmp_path: Path) -> Path:
    need_program("openssl")
    need_program("kubectl")
    out = tmp_path / "pki"
    done = run_cli("run", "all", "--out", str(out), "-q", *SETS)
    assert done.returncode == 0, done.stderr
    return out


def _rotate(out: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("rotate-ca", "ca", "--out", str(out), "-q", *SETS, *args)


def _leaves(out: Path) -> list[Path]:
    """The certificates the cluster CA signs in this recipe (every .crt but the other CAs' and
    theirs, and the rotation's own files)."""
    others = ("etcd", "front-proxy", "apiserver-etcd-client", "ca")
    return [p for p in sorted(out.glob("*.crt")) if not p.name.startswith(others)]


def _verifies(ca: Path, cert: Path) -> bool:
    argv = ["openssl", "verify", "-x509_strict", "-CAfile", str(ca), str(cert)]
    return subprocess.run(argv, capture_output=True).returncode == 0


def test_trust_switch_remove_with_real_openssl(tmp_path: Path) -> None:
    out = _build(tmp_path)
    old_key = (out / "ca.key").read_bytes()
    leaves = _leaves(out)
    assert len(leaves) >= 6
    assert "next: kpki-openssl rotate-ca ca --stage trust" in _rotate(out).stdout

    assert _rotate(out, "--stage", "trust").returncode == 0
    assert (out / "ca.key").read_bytes() == old_key
    assert all(_verifies(out / "ca-bundle.crt", p) for p in leaves)
    assert not any(_verifies(out / "ca-new.crt", p) for p in leaves)
    flags = (out / "kube-apiserver.flags").read_text()
    assert "--client-ca-file=/var/lib/kubernetes/ca-bundle.crt" in flags
    kcm = (out / "kube-controller-manager.flags").read_text()
    assert "--cluster-signing-cert-file=/var/lib/kubernetes/ca-signer.crt" in kcm
    assert (out / "ca-signer.crt").read_bytes() != (out / "ca-bundle.crt").read_bytes()
    assert (out / "ca-new.key").stat().st_mode & 0o777 == 0o600

    # remove before switch: refused, nothing changed
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    refused = _rotate(out, "--stage", "remove")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    keys = {p.name: p.read_bytes() for p in out.glob("*.key")}
    assert _rotate(out, "--stage", "switch").returncode == 0
    for path in leaves:  # every leaf from the new CA alone, its key kept
        assert _verifies(out / "ca-new.crt", path), path.name
        assert not _verifies(out / "ca.crt", path), path.name
    assert {p.name: p.read_bytes() for p in out.glob("*.key")} == keys
    assert (
        "--cluster-signing-key-file=/var/lib/kubernetes/ca-new.key"
        in (out / "kube-controller-manager.flags").read_text()
    )

    dry = _rotate(out, "--stage", "remove", "--dry-run").stdout.splitlines()
    removed = [ln for ln in dry if ln.startswith("rm -f -- ")]  # what run_stage does last
    assert (
        len(removed) == 1 and removed[0].endswith(" ca-new.crt") and "ca-bundle.crt" in removed[0]
    )
    assert _rotate(out, "--stage", "remove").returncode == 0
    kept = list((out / ".kpki" / "replaced").glob("ca-*/ca.key"))
    assert len(kept) == 1 and kept[0].read_bytes() == old_key
    assert kept[0].stat().st_mode & 0o777 == 0o600
    assert kept[0].parent.stat().st_mode & 0o777 == 0o700
    log = (out / "commands.sh").read_text()  # replayable by hand: the folder is made first
    made = f"mkdir -p -m 0700 .kpki/replaced/{kept[0].parent.name}\n"
    assert made in log and log.index(made) < log.index("cp ca.key .kpki/replaced/")
    assert (out / "ca.key").read_bytes() == keys["ca-new.key"]
    assert not (out / "ca-bundle.crt").exists() and not (out / "ca-new.key").exists()
    assert all(_verifies(out / "ca.crt", p) for p in leaves)
    verify = run_cli("verify", "--out", str(out), *SETS)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    again = run_cli("run", "all", "--out", str(out), *SETS)
    assert again.returncode == 0 and "changed" not in again.stderr


def test_remove_refused_while_one_leaf_or_a_given_cert_chains_to_the_old_ca(
    tmp_path: Path,
) -> None:
    out = _build(tmp_path)
    old_admin = (out / "admin.crt").read_bytes()
    (tmp_path / "node.pem").write_bytes((out / "kube-proxy.crt").read_bytes())
    assert _rotate(out, "--stage", "trust").returncode == 0
    assert _rotate(out, "--stage", "switch").returncode == 0
    given = _rotate(out, "--stage", "remove", "--cert", str(tmp_path / "node.pem"))
    assert given.returncode != 0 and "node.pem" in given.stderr
    (out / "admin.crt").write_bytes(old_admin)  # one leaf put back as it was
    refused = _rotate(out, "--stage", "remove")
    assert refused.returncode != 0 and "admin.crt" in refused.stderr
    assert (out / "ca-new.key").exists() and not (out / ".kpki" / "replaced").exists()


def _start(out: Path, stage: str, ca: str, sets: tuple[str, ...]) -> subprocess.Popen:
    argv = [sys.executable, "-m", "kpki_openssl", "rotate-ca", ca, "--out", str(out), "-q"]
    return subprocess.Popen(
        [*argv, *sets, "--stage", stage],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill_rotation_after(
    out: Path, stage: str, entries: int, ca: str = "ca", sets: tuple[str, ...] = SETS
) -> int:
    """Start `rotate-ca CA --stage STAGE`; SIGKILL it once the log has grown by `entries`.
    Its exit status: -SIGKILL when the kill came before it finished."""
    start = log_entries(out)
    proc = _start(out, stage, ca, sets)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if log_entries(out) >= start + entries:
                break
            time.sleep(0.001)
    finally:
        kill(proc)
    return proc.returncode


@pytest.mark.long
def test_a_kill_at_every_step_of_each_stage_then_a_rerun_finishes_it(tmp_path: Path) -> None:
    out = _build(tmp_path)
    old_key = (out / "ca.key").read_bytes()
    for stage in ("trust", "switch", "remove"):
        count = sum(
            line.startswith(("openssl ", "kubectl ", "cat ", "cp ", "mkdir "))
            for line in _rotate(out, "--stage", stage, "--dry-run").stdout.splitlines()
        )
        entries = max(count, 1)
        new_key = None
        for k in range(1, entries + 1):  # a kill after each logged command of the stage
            kill_rotation_after(out, stage, k)
            if (out / "ca-new.key").exists() and stage != "remove":
                new_key = new_key or (out / "ca-new.key").read_bytes()
                assert (out / "ca-new.key").read_bytes() == new_key  # never made twice
            if stage != "remove":
                assert (out / "ca.key").read_bytes() == old_key
        want = {"trust": "(trusted)", "switch": "(switched)", "remove": "(idle)"}[stage]
        if want not in _rotate(out).stdout:  # the last kill may have come after the end
            done = _rotate(out, "--stage", stage)
            assert done.returncode == 0, done.stderr
        status = _rotate(out).stdout
        assert want in status, status
    kept = list((out / ".kpki" / "replaced").glob("ca-*/ca.key"))
    assert [p.read_bytes() for p in kept] == [old_key]
    assert all(_verifies(out / "ca.crt", p) for p in _leaves(out))
    assert run_cli("verify", "--out", str(out), *SETS).returncode == 0


def test_a_remove_killed_while_cleaning_up_is_finished_by_the_next_remove(tmp_path: Path) -> None:
    """Killed after the new CA took the old names and part of the rotation's own files were
    removed (ca-new.crt still there): the next remove finishes, copying nothing again."""
    out = _build(tmp_path)
    for stage in ("trust", "switch", "remove"):
        assert _rotate(out, "--stage", stage).returncode == 0
    kept = sorted((out / ".kpki" / "replaced").rglob("ca.key"))
    (out / "ca-new.crt").write_bytes((out / "ca.crt").read_bytes())  # as a kill leaves it
    done = _rotate(out, "--stage", "remove")
    assert done.returncode == 0, done.stderr
    assert not (out / "ca-new.crt").exists()
    assert sorted((out / ".kpki" / "replaced").rglob("ca.key")) == kept
    assert run_cli("verify", "--out", str(out), *SETS).returncode == 0
