"""The command line, run as a user runs it (subprocess, real openssl)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tests.conftest import run_cli, run_cli_process
from tests.expected import CAS, COMPONENT_FILES, KEYPAIRS, KUBECONFIGS, LEAVES
from tests.oracle import load_cert, openssl_verify, sans, subject_pairs


def test_dry_run_piped_is_plain_and_whole(tmp_path: Path) -> None:
    done = run_cli_process("run", "all", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "\x1b[" not in text  # no colour codes when piped
    assert list(tmp_path.iterdir()) == []  # wrote nothing
    lines = text.splitlines()
    for base in [*CAS, *LEAVES]:
        assert f"openssl genrsa -out {base}.key 2048" in lines
        req = [ln for ln in lines if ln.startswith(f"openssl req -new -key {base}.key ")]
        x509 = [ln for ln in lines if ln.startswith(f"openssl x509 -req -in {base}.csr ")]
        assert len(req) == 1 and len(x509) == 1, base
        assert f"-extfile {base}.cnf" in x509[0] and "-days " in x509[0]
    # the generated apiserver.cnf is printed whole, [alt_names] and all
    assert "[alt_names]" in text and "DNS.4 = kubernetes.default.svc.cluster.local" in text
    assert "IP.2 = 172.17.0.87" in text


def test_dry_run_matches_what_run_logs(built_pki: Path) -> None:
    """One plan, two outputs: the commands dry-run prints are the ones run executed (the
    session PKI was built with the same defaults)."""
    dry = run_cli("run", "all", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    commands = [ln for ln in dry.stdout.splitlines() if ln.startswith("openssl ")]
    logged = [
        ln for ln in (built_pki / "commands.sh").read_text().splitlines()
        if ln.startswith("openssl ")
    ]  # fmt: skip
    assert commands == logged
    # three commands per certificate, two per bare key pair (genrsa, rsa -pubout)
    assert len(commands) == 3 * (len(CAS) + len(LEAVES)) + 2 * len(KEYPAIRS)


def test_set_five_nodes_gives_five_kubelet_pairs(tmp_path: Path) -> None:
    nodes = [f"w{i}" for i in range(1, 6)]
    out = tmp_path / "pki"
    done = run_cli(
        "run", "all", "--quiet", "--out", str(out),
        "--set", f"nodes={','.join(nodes)}",
        "--set", "node_ips=w1=10.0.0.11,w5=fd00::5",
        "--set", "etcd_peers=e1,e2",
        "--set", "days=90",
        "--set", "key_type=ecdsa",  # quick keys: this test is about names, not key types
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for node in nodes:
        for base in (f"kubelet-{node}", f"kubelet-client-{node}"):
            assert openssl_verify(out / "ca.crt", out / f"{base}.crt").returncode == 0
        assert subject_pairs(load_cert(out / f"kubelet-client-{node}.crt")) == [
            ("CN", f"system:node:{node}"),
            ("O", "system:nodes"),
        ]
    assert sans(load_cert(out / "kubelet-w1.crt")) == (["w1"], ["10.0.0.11"])
    assert sans(load_cert(out / "kubelet-w5.crt")) == (["w5"], ["fd00::5"])
    assert sans(load_cert(out / "kubelet-w3.crt")) == (["w3"], [])
    assert sorted(p.name for p in out.glob("kubelet-*.crt")) == sorted(
        [f"kubelet-{n}.crt" for n in nodes] + [f"kubelet-client-{n}.crt" for n in nodes]
    )
    assert (out / "e1.crt").exists() and (out / "e2.crt").exists()
    admin = load_cert(out / "admin.crt")
    assert (admin.not_valid_after_utc - admin.not_valid_before_utc).days == 90


def test_run_named_steps_and_missing_ca(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    early = run_cli("run", "admin", "--out", str(out))
    assert early.returncode == 1
    assert (
        early.stderr.count("\n") == 1
        and "ca.crt" in early.stderr
        and "run ca first" in early.stderr
    )
    assert not out.exists()  # nothing written, not even the folder
    assert run_cli("run", "ca", "admin", "--quiet", "--out", str(out)).returncode == 0
    assert sorted(p.suffix for p in out.glob("admin.*")) == [".cnf", ".crt", ".csr", ".key"]
    assert not (out / "apiserver.crt").exists()
    assert openssl_verify(out / "ca.crt", out / "admin.crt").returncode == 0


def test_second_run_keeps_every_key(built_pki: Path, tmp_path: Path) -> None:
    out = tmp_path / "pki"
    shutil.copytree(built_pki, out)  # the session PKI, state file and all
    before = {p.name: p.read_bytes() for p in out.glob("*.key")}
    again = run_cli("run", "all", "--quiet", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert re.search(r": 0 steps run, \d+ skipped", again.stdout), again.stdout
    assert {p.name: p.read_bytes() for p in out.glob("*.key")} == before
    assert len(before) == len(CAS) + len(LEAVES) + len(KEYPAIRS)


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    cases = {
        ("--set", "apiserver_ips=10.0.0.300"): "apiserver_ips",
        ("--set", "nodes=node01,bad node"): "'bad node'",
        ("--set", "nope=1"): "unknown variable 'nope'",
        ("--set", "days=soon"): "'soon'",
        ("--recipe", str(tmp_path / "missing.yaml")): "missing.yaml",
        ("--set", "kubeconfig_server=https://lb:6443"): "host 'lb' of 'https://lb:6443' is not",
        ("--set", "embed_certs=perhaps"): "embed_certs",
    }
    for extra, needle in cases.items():
        done = run_cli("run", "all", "--out", str(tmp_path / "pki"), *extra)
        assert done.returncode == 2, (extra, done.stderr)
        assert done.stderr.count("\n") == 1 and needle in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "pki").exists()


def test_openssl_failure_shows_command_and_stderr(tmp_path: Path) -> None:
    done = run_cli("run", "ca", "--out", str(tmp_path / "pki"), "--set", "key_size=12")
    assert done.returncode == 1
    assert "openssl genrsa -out ca.key 12" in done.stderr
    assert "| " in done.stderr  # openssl's own message, quoted
    assert "Traceback" not in done.stderr


def test_missing_openssl_is_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path))  # an empty folder: no openssl on PATH
    done = run_cli_process("run", "ca", "--out", str(tmp_path / "pki"), env=env)
    assert done.returncode == 1
    assert not (tmp_path / "pki").exists()
    assert (
        done.stderr.strip() == "kpki-openssl: error: openssl: not found on PATH; install it first"
    )


def test_list_shows_steps_in_order() -> None:
    done = run_cli("list")
    assert done.returncode == 0, done.stderr
    names = [ln.split()[0] for ln in done.stdout.splitlines()[1:]]
    assert names[0] == "ca"
    assert set(names) == {*CAS, *LEAVES, *KEYPAIRS, *KUBECONFIGS, *COMPONENT_FILES}
    assert names.index("admin.kubeconfig") > names.index("apiserver")  # files after certificates
    assert "apiserver.cnf" in done.stdout
