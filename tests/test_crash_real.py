"""A real `run all` killed with SIGKILL at many points, then resumed; two real runs at once.

After every kill no file in the folder may look complete and not be (every key, CSR and
certificate parses whole, every certificate has its key beside it); the resumed run finishes a
PKI that verifies with `openssl verify -x509_strict` and cryptography; the CA key never changes
once it exists; and the command log, replayed in an empty folder, still builds a valid PKI.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import REPO, need_program, run_cli
from tests.expected import CAS
from tests.oracle import key_matches, load_cert, verifying_cas

pytestmark = pytest.mark.long  # a kill at every step: the long lane

ARGS = ("--quiet", "--set", "nodes=n1,n2", "--set", "key_size=1024")  # 17 certificates
CERTS = 17  # 3 CAs, 7 single leaves, 2 per node, etcd, 1 peer, apiserver


def start_run(out: Path, *extra: str, command: str = "run") -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "kpki_openssl", command, "all", "--out", str(out), *ARGS, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill takes openssl down with it
    )


def log_entries(out: Path) -> int:
    try:
        text = (out / "commands.sh").read_text()
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if line.startswith("# 20"))


def kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have finished already
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def kill_after(out: Path, entries: int, delay: float = 0.0, command: str = "run") -> int:
    """Start a run; SIGKILL it `delay` seconds after the log has grown by `entries`."""
    start = log_entries(out)
    proc = start_run(out, command=command)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if log_entries(out) >= start + entries:
                time.sleep(delay)
                break
            time.sleep(0.001)
    finally:
        kill(proc)
    return proc.returncode


def assert_nothing_half_written(out: Path) -> None:
    for path in out.glob("*.key"):
        serialization.load_pem_private_key(path.read_bytes(), password=None)
    for path in out.glob("*.csr"):
        x509.load_pem_x509_csr(path.read_bytes())
    for path in out.glob("*.crt"):
        assert key_matches(load_cert(path), path.with_suffix(".key")), path.name
    for path in out.glob("*.cnf"):
        assert path.read_text().endswith("\n") and "[req]" in path.read_text(), path.name
    log = (out / "commands.sh").read_text() if (out / "commands.sh").exists() else ""
    assert log == "" or log.endswith("\n")  # whole entries only
    assert not list(out.glob(".*.tmp*"))


def assert_complete_and_valid(out: Path) -> None:
    certs = sorted(out.glob("*.crt"))
    assert len(certs) == CERTS
    for crt in certs:
        (signer,) = verifying_cas(out, crt, CAS)  # exactly one CA vouches for it
        if crt.stem not in CAS:
            load_cert(crt).verify_directly_issued_by(load_cert(out / f"{signer}.crt"))
        assert key_matches(load_cert(crt), crt.with_suffix(".key"))


def test_killed_runs_resume_to_a_valid_pki(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    ca_key = None
    kills = 0
    # kill points: after N new log entries (mid-step: after a .cnf, a genrsa, a req, an x509),
    # then at a delay after the run's first entry (anywhere: inside openssl, between renames)
    plan = [{"entries": n} for n in (1, 2, 3, 4, 5, 6, 8, 11)] + [
        {"entries": 1, "delay": d} for d in (0.02, 0.05, 0.1, 0.2)
    ]
    for point in plan:
        status = kill_after(out, **point)
        kills += status == -signal.SIGKILL
        assert_nothing_half_written(out)
        if (out / "ca.key").exists():
            ca_key = ca_key or (out / "ca.key").read_bytes()
            assert (out / "ca.key").read_bytes() == ca_key, point
    assert kills >= 10  # the runs really were killed, not finished
    done = run_cli("run", "all", "--out", str(out), *ARGS)
    assert done.returncode == 0, done.stderr
    assert (out / "ca.key").read_bytes() == ca_key
    assert_complete_and_valid(out)
    checked = run_cli("verify", "--out", str(out), *ARGS[1:])  # every check of the tool passes
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (out / ".kpki" / "stage").exists()
    log = (out / "commands.sh").read_text()
    assert "discarded unfinished work of an interrupted run" in log
    # the log is still a true record: replayed in an empty folder it builds a PKI that verifies
    replay = tmp_path / "replay"
    replay.mkdir()
    (replay / "commands.sh").write_text(log)
    subprocess.run(
        ["bash", "commands.sh"], cwd=replay, check=True, capture_output=True, timeout=120
    )
    assert_complete_and_valid(replay)


def test_killed_renews_leave_every_certificate_whole(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--out", str(out), *ARGS).returncode == 0
    ca_key = (out / "ca.key").read_bytes()
    keys = {p.name: p.read_bytes() for p in out.glob("*.key")}
    for entries in (2, 3, 5, 8):
        assert kill_after(out, entries, command="renew") == -signal.SIGKILL
        assert_nothing_half_written(out)
        assert_complete_and_valid(out)  # each certificate the old one or the renewed one
    done = run_cli("renew", "all", "--out", str(out), *ARGS)
    assert done.returncode == 0, done.stderr
    assert_complete_and_valid(out)
    assert (out / "ca.key").read_bytes() == ca_key
    assert {p.name: p.read_bytes() for p in out.glob("*.key")} == keys


def test_two_runs_at_once(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    first, second = start_run(out), start_run(out)
    try:
        results = [p.communicate(timeout=120) for p in (first, second)]
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                kill(proc)
    statuses = [first.returncode, second.returncode]
    assert 0 in statuses, results
    for status, (_stdout, stderr) in zip(statuses, results):
        if status != 0:
            assert status == 1
            assert stderr.count("\n") == 1 and "another kpki-openssl (pid " in stderr, stderr
    assert_complete_and_valid(out)
    log = (out / "commands.sh").read_text()
    for key in out.glob("*.key"):
        made = re.findall(rf"(?:^|\] \|\| )openssl genrsa -out {re.escape(key.name)} ", log, re.M)
        assert len(made) == 1, key.name  # made once (its guard, `[ -e KEY ] ||`, before it)
    again = run_cli("run", "all", "--out", str(out), *ARGS)
    assert again.returncode == 0 and re.search(r": 0 steps run, \d+ skipped", again.stdout)


def test_a_failed_command_leaves_nothing_half_made(tmp_path: Path) -> None:
    """openssl fails inside a step: nothing of that step (not even its .cnf) reaches DIR."""
    out = tmp_path / "pki"
    done = run_cli("run", "ca", "--out", str(out), "--set", "key_size=12")
    assert done.returncode == 1 and "openssl genrsa -out ca.key 12" in done.stderr
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == ["commands.sh"]
    assert "# 20" in (out / "commands.sh").read_text()  # the failure is on record
