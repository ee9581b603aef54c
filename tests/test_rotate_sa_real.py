"""`rotate-ca sa`: the service-account key pair rotated in three stages with real openssl. No
kube-apiserver runs here: the flags files and the keys are what is checked."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_program, run_cli

SETS = ("--set", "nodes=n1", "--set", "key_type=ecdsa")
API = "kube-apiserver.flags"
KCM = "kube-controller-manager.flags"
PKI = "/var/lib/kubernetes"


def _rotate(out: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("rotate-ca", "sa", "--out", str(out), "-q", *SETS, *args)


def _flags(out: Path, name: str, flag: str) -> list[str]:
    lines = (out / name).read_text().splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(flag + "=")]


def _public(key: Path) -> str:
    argv = ["openssl", "pkey", "-in", str(key), "-pubout"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_the_service_account_keys_rotate_in_three_stages(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--out", str(out), "-q", *SETS).returncode == 0
    old_key, old_pub = (out / "sa.key").read_bytes(), (out / "sa.pub").read_bytes()
    assert "next: kpki-openssl rotate-ca sa --stage trust" in _rotate(out).stdout

    dry = _rotate(out, "--stage", "trust", "--dry-run")
    assert dry.returncode == 0 and "openssl genpkey" in dry.stdout
    assert not (out / "sa-new.key").exists()
    refused = _rotate(out, "--stage", "switch")  # a stage out of order: one line, nothing lost
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.stderr

    assert _rotate(out, "--stage", "trust").returncode == 0
    assert _flags(out, API, "--service-account-key-file") == [f"{PKI}/sa.pub", f"{PKI}/sa-new.pub"]
    assert _flags(out, API, "--service-account-signing-key-file") == [f"{PKI}/sa.key"]
    assert _flags(out, KCM, "--service-account-private-key-file") == [f"{PKI}/sa.key"]
    assert (out / "sa-new.key").stat().st_mode & 0o777 == 0o600
    assert _public(out / "sa-new.key") == (out / "sa-new.pub").read_text()
    assert "(trusted)" in _rotate(out).stdout

    switch = _rotate(out, "--stage", "switch", "--dry-run")
    assert "longest service-account token lifetime" in switch.stdout
    assert _rotate(out, "--stage", "switch").returncode == 0
    assert _flags(out, API, "--service-account-key-file") == [f"{PKI}/sa.pub", f"{PKI}/sa-new.pub"]
    assert _flags(out, API, "--service-account-signing-key-file") == [f"{PKI}/sa-new.key"]
    assert _flags(out, KCM, "--service-account-private-key-file") == [f"{PKI}/sa-new.key"]
    assert (out / "sa.key").read_bytes() == old_key
    new_key = (out / "sa-new.key").read_bytes()

    remove = _rotate(out, "--stage", "remove", "--dry-run")
    assert remove.returncode == 0 and "longest service-account token lifetime" in remove.stdout
    assert _rotate(out, "--stage", "remove").returncode == 0
    assert _flags(out, API, "--service-account-key-file") == [f"{PKI}/sa.pub"]
    assert _flags(out, API, "--service-account-signing-key-file") == [f"{PKI}/sa.key"]
    assert _flags(out, KCM, "--service-account-private-key-file") == [f"{PKI}/sa.key"]
    assert (out / "sa.key").read_bytes() == new_key and (out / "sa.pub").read_bytes() != old_pub
    assert _public(out / "sa.key") == (out / "sa.pub").read_text()
    assert not (out / "sa-new.key").exists() and not (out / "sa-new.pub").exists()
    kept = list((out / ".kpki" / "replaced").glob("sa-*/sa.key"))
    assert len(kept) == 1 and kept[0].read_bytes() == old_key
    assert kept[0].stat().st_mode & 0o777 == 0o600
    assert (kept[0].parent / "sa.pub").read_bytes() == old_pub
    assert (out / "sa.key").stat().st_mode & 0o777 == 0o600
    assert "(idle)" in _rotate(out).stdout

    printed = dry.stdout + switch.stdout + remove.stdout + (out / "commands.sh").read_text()
    assert "PRIVATE KEY" not in printed  # neither the dry runs nor the log hold a key
    assert run_cli("verify", "--out", str(out), *SETS).returncode == 0
    again = run_cli("run", "all", "--out", str(out), *SETS)
    assert again.returncode == 0 and "changed" not in again.stderr


def test_bad_input_for_the_key_pair_is_one_line(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--out", str(out), "-q", *SETS).returncode == 0
    (tmp_path / "node.pem").write_text("x")
    given = _rotate(out, "--stage", "remove", "--cert", str(tmp_path / "node.pem"))
    assert given.returncode != 0 and "--cert" in given.stderr
    assert len(given.stderr.strip().splitlines()) == 1
    unknown = run_cli("rotate-ca", "nosuch", "--out", str(out), *SETS)
    assert unknown.returncode == 2 and "'nosuch'" in unknown.stderr and "sa" in unknown.stderr
    assert not (out / "sa-new.key").exists()


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.long
def test_a_kill_at_every_step_of_each_sa_stage_then_a_rerun_finishes_it(tmp_path: Path) -> None:
    """For each stage and each logged command k of it: a fresh copy of the folder as the stage
    found it, `rotate-ca sa --stage S` SIGKILLed during command k, then a re-run finishes the
    stage. The new pair is never made twice and the old private key is never lost."""
    from tests.test_rotate_ca_real import kill_rotation_after

    need_program("openssl")
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--out", str(out), "-q", *SETS).returncode == 0
    old_key = (out / "sa.key").read_bytes()
    want = {"trust": "(trusted)", "switch": "(switched)", "remove": "(idle)"}
    kills = 0
    for stage in ("trust", "switch", "remove"):
        dry = _rotate(out, "--stage", stage, "--dry-run").stdout.splitlines()
        count = sum(line.startswith(("openssl ", "cat >", "cp ", "mkdir ")) for line in dry)
        assert count >= 2, dry
        new_key = (out / "sa-new.key").read_bytes() if stage != "trust" else None
        for k in range(1, count + 1):
            copy = tmp_path / f"{stage}-{k}"
            shutil.copytree(out, copy, symlinks=True)
            killed = kill_rotation_after(copy, stage, k, "sa", SETS)
            assert killed == -signal.SIGKILL, (stage, k)  # it died during command k
            kills += 1
            assert want[stage] not in _rotate(copy).stdout  # the stage is not done yet
            files = _snapshot(copy)
            assert any(v == old_key for v in files.values())  # the old key is somewhere
            if new_key is not None and stage != "remove":
                assert files["sa-new.key"] == new_key  # never made again
            done = _rotate(copy, "--stage", stage)
            assert done.returncode == 0, (stage, k, done.stderr)
            assert want[stage] in _rotate(copy).stdout
            if stage == "trust":
                assert (copy / "sa.key").read_bytes() == old_key
            if stage == "remove":
                kept = list((copy / ".kpki" / "replaced").glob("sa-*/sa.key"))
                assert [p.read_bytes() for p in kept] == [old_key]
                assert _public(copy / "sa.key") == (copy / "sa.pub").read_text()
                assert _flags(copy, API, "--service-account-key-file") == [f"{PKI}/sa.pub"]
            if new_key is not None:
                assert (copy / ("sa.key" if stage == "remove" else "sa-new.key")).read_bytes() == (
                    new_key
                )
            assert run_cli("verify", "--out", str(copy), *SETS).returncode == 0
        assert _rotate(out, "--stage", stage).returncode == 0  # the folder moves on
    assert kills >= 8
