"""The walkthrough in a real terminal (tmux): Enter runs a step, q quits, a second walkthrough
(or `run all`) finishes the folder; with stdin not a terminal it never waits."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, need_program, run_cli
from tests.oracle import openssl_verify

SETS = ("--set", "nodes=n1", "--set", "key_size=1024")
PROMPT = "[Enter] run it"


class Tmux:
    """One tmux server on a private socket, running one command in a fixed-size window."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.tmux = need_program("tmux")
        self.socket = f"kpki-test-{uuid.uuid4().hex[:8]}"
        env = f"PYTHONPATH={shlex.quote(str(REPO))}"
        self._run(
            "new-session", "-d", "-x", "200", "-y", "50", "-s", "walk", "-c", str(cwd),
            f"env {env} {shlex.join(command)}; echo EXITED=$?; sleep 30",
        )  # fmt: skip

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, "-L", self.socket, *args], capture_output=True, text=True, timeout=20
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-J", "-S", "-2000", "-t", "walk")

    def keys(self, *keys: str) -> None:
        self._run("send-keys", "-t", "walk", *keys)

    def wait_for(self, predicate, what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux_walk(tmp_path: Path):
    sessions: list[Tmux] = []

    def start(out: Path) -> Tmux:
        command = [sys.executable, "-m", "kpki_openssl", "walkthrough", "--out", str(out), *SETS]
        session = Tmux(command, tmp_path)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


def test_walkthrough_in_a_terminal_quit_and_resume(tmux_walk, tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    term = tmux_walk(out)
    screen = term.wait_for(lambda s: PROMPT in s, "the first prompt")
    assert "step ca: Kubernetes CA" in screen and "Why:" in screen
    assert "$ openssl genrsa -out ca.key 1024" in screen
    assert not out.exists()  # nothing runs before Enter
    term.keys("Enter")
    screen = term.wait_for(lambda s: s.count(PROMPT) == 2, "the second prompt")
    assert "subject=CN = KUBERNETES-CA" in screen and "CA:TRUE" in screen
    assert "ca.key  " in screen and "mode 0600" in screen
    assert (out / "ca.crt").exists() and not (out / "admin.key").exists()
    term.keys("Enter")
    screen = term.wait_for(lambda s: s.count(PROMPT) == 3, "the third prompt")
    assert "subject=CN = kube-admin, O = system:masters" in screen
    assert "TLS Web Client Authentication" in screen
    term.keys("s", "Enter")  # skip kube-scheduler
    term.wait_for(lambda s: s.count(PROMPT) == 4, "the fourth prompt")
    term.keys("q", "Enter")
    screen = term.wait_for(lambda s: "EXITED=" in s, "the walkthrough to end")
    assert "EXITED=0" in screen and "Stopped before kube-controller-manager" in screen
    assert "run all --out" in screen
    made = sorted(p.name for p in out.glob("*.crt"))
    assert made == ["admin.crt", "ca.crt"]

    # resume in a second terminal: the two finished steps are passed over, not redone
    ca_key = (out / "ca.key").read_bytes()
    term2 = tmux_walk(out)
    screen = term2.wait_for(lambda s: PROMPT in s, "the resumed prompt")
    assert "already done: ca.cnf, ca.key, ca.csr, ca.crt exist" in screen
    assert "step kube-scheduler" in screen.split("already done")[-1]
    term2.keys("q", "Enter")
    term2.wait_for(lambda s: "EXITED=0" in s, "the resumed walkthrough to end")

    # and `run all` finishes the folder with the CA it started
    done = run_cli("run", "all", "--quiet", "--out", str(out), *SETS)
    assert done.returncode == 0, done.stderr
    assert "2 skipped" in done.stdout
    assert (out / "ca.key").read_bytes() == ca_key
    for base in ("admin", "kube-scheduler", "apiserver", "kubelet-n1"):
        assert openssl_verify(out / "ca.crt", out / f"{base}.crt").returncode == 0


def test_walkthrough_never_waits_without_a_terminal(tmp_path: Path) -> None:
    """stdin is an open pipe nobody writes to: a walkthrough that read it would hang."""
    need_program("openssl")
    out = tmp_path / "pki"
    log = tmp_path / "walk.txt"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kpki_openssl", "walkthrough", "--out", str(out), *SETS],
            stdin=subprocess.PIPE,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            assert proc.wait(timeout=120) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdin.close()
    text = log.read_text()
    assert PROMPT not in text
    steps = run_cli("list", *SETS).stdout.count("\n") - 1
    assert f"Walkthrough finished: {steps} steps run, 0 already done" in text
    assert openssl_verify(out / "ca.crt", out / "apiserver.crt").returncode == 0
    # the same log as run: the commands replay
    logged = [
        ln for ln in (out / "commands.sh").read_text().splitlines() if ln.startswith("openssl")
    ]
    assert len(logged) == 3 * 15 + 2  # three commands a certificate; sa.key and sa.pub


def test_walkthrough_yes_then_again_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    first = run_cli("walkthrough", "--yes", "--out", str(out), *SETS, "ca", "admin")
    assert first.returncode == 0, first.stderr
    assert "2 steps run" in first.stdout
    again = run_cli("walkthrough", "--yes", "--out", str(out), *SETS, "ca", "admin")
    assert again.returncode == 0, again.stderr
    assert "0 steps run, 2 already done" in again.stdout


def test_walkthrough_finishes_a_half_made_step_with_its_key(tmp_path: Path) -> None:
    """A step cut off after its key (as by Ctrl-C mid-step) is finished, the key kept."""
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "admin", "--quiet", "--out", str(out), *SETS).returncode == 0
    key = (out / "admin.key").read_bytes()
    for name in ("admin.crt", "admin.csr"):
        (out / name).unlink()
    done = run_cli("walkthrough", "--yes", "--out", str(out), *SETS, "ca", "admin")
    assert done.returncode == 0, done.stderr
    assert "already done: ca.cnf, ca.key, ca.csr, ca.crt" in done.stdout
    assert "keeps the existing key admin.key" in done.stdout
    assert (out / "admin.key").read_bytes() == key
    assert openssl_verify(out / "ca.crt", out / "admin.crt").returncode == 0
