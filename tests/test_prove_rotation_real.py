"""`prove --only rotation` with the real programs: a folder with one etcd member gets a scratch
PKI with three, and the etcd CA's rotation is walked live with every stage's expected accept
or refuse; the user's folder is not touched; a plain `prove` leaves the group out."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from kpki_openssl.prove import registry
from tests.conftest import need_program, run_cli
from tests.test_prove import prove_json

pytestmark = [pytest.mark.real, pytest.mark.long]

SETS = ("--set", "nodes=n1", "--set", "key_type=ecdsa")  # ECDSA: keys in milliseconds


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_etcd_ca_rotation_walked_live(tmp_path: Path) -> None:
    for name in ("openssl", "etcd", "etcdctl", "kubectl", "curl"):
        need_program(name)
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--out", str(out), "-q", *SETS).returncode == 0
    before = _digests(out)
    started = time.monotonic()
    code, doc = prove_json(out, *SETS, "--only", "rotation")
    took = time.monotonic() - started
    failed = [c for c in doc["checks"] if c["status"] not in ("pass", "note")]
    assert code == 0 and not failed, failed
    assert _digests(out) == before  # the walk ran on a scratch copy
    assert not list(tmp_path.glob("kpki-prove-*"))  # scratch removed, members stopped
    checks = doc["checks"]
    assert "etcd_peers=etcd1,etcd2,etcd3" in checks[1]["said"]  # one member here: built
    restarts = [c for c in checks if "restarted with its files" in c["what"]]
    assert len(restarts) == 9 and all(c["said"] == "put OK, get ok" for c in restarts)

    def verdict(stage: str, program: str, words: str) -> str:
        found = [
            c for c in checks if c["what"].startswith(f"{stage}: {program}") and words in c["what"]
        ]
        assert len(found) == 1, (stage, program, words)
        assert found[0]["status"] == "pass"
        return found[0]["expect"]

    kube = {"old": "trusting the old CA", "bundle": "the bundle", "new": "trusting the new CA"}
    want = {"trust": "aar", "switch": "raa", "remove": "raa"}  # old, bundle, new kubeconfig
    for stage, letters in want.items():
        for (which, words), letter in zip(kube.items(), letters, strict=True):
            assert verdict(stage, "kubectl", words)[0] == letter, (stage, which)
        for program in ("etcdctl", "curl"):
            old = verdict(stage, program, "from the old CA")
            assert old == ("refuse" if stage == "remove" else "accept")
            assert verdict(stage, program, "from the new CA") == "accept"
    assert verdict("trust", "etcdctl", "trusting only the new CA") == "refuse"
    assert all("no kube-apiserver runs" in c["what"] for c in checks if c["program"] == "kubectl")
    note = checks[-1]
    assert note["status"] == "note" and "the rotation walk took" in note["what"]
    print(f"prove --only rotation: {took:.1f} s")


def test_a_plain_prove_leaves_the_rotation_groups_out() -> None:
    assert "rotation" in registry.NAMES and "rotation" not in registry.DEFAULT
    opt_in = [g.name for g in registry.GROUPS if g.opt_in]
    assert opt_in == ["rotation", "rotation-ca", "rotation-front-proxy"]
