"""prove's hostile-csr group: the counterfactual run with the real openssl, etcd and etcdctl.
A node's CSR asking for CA:TRUE, signed the Hard Way (-copy_extensions copyall), becomes a CA
whose system:masters certificate etcd (trusting the cluster CA) accepts; signed by the recipe's
own command the minted certificate is refused; `sign` refuses the CSR itself."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.conftest import need_program, run_cli

pytestmark = pytest.mark.real

SETS = ["--set", "key_type=ecdsa"]


def test_the_hard_way_lets_a_node_in_as_system_masters_and_sign_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for program in ("openssl", "etcd", "etcdctl"):
        need_program(program)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # prove's scratch stays in here
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "--quiet", "--out", str(out), *SETS).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    done = run_cli("prove", "--only", "hostile-csr", "--json", "--out", str(out), *SETS)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = json.loads(done.stdout)["checks"]
    assert [(c["program"], c["expect"], c["status"]) for c in checks] == [
        ("openssl", "accept", "pass"),  # the Hard Way's certificate is a CA
        ("etcdctl", "accept", "pass"),  # etcd takes the put from what that CA minted
        ("etcdctl", "refuse", "pass"),  # not from what the recipe's command makes
        ("kpki-openssl sign", "refuse", "pass"),
    ]
    assert "-copy_extensions" in checks[0]["argv"] and "copyall" in checks[0]["argv"]
    assert checks[1]["said"] == "OK: written"
    # the refusal is quoted from etcd's log (prove counts it only when it is the handshake's)
    assert checks[2]["said"].startswith("etcd's log: "), checks[2]["said"]
    assert "basicConstraints" in checks[3]["said"]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pki"]  # the scratch is gone


def test_without_the_ca_it_says_so(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    done = run_cli("prove", "--only", "hostile-csr", "--json", "--out", str(out))
    checks = json.loads(done.stdout)["checks"]
    assert [c["status"] for c in checks] == ["note"]
    assert "ca.crt" in checks[0]["said"]
