"""The walkthrough in a real terminal (tmux): Enter runs a step, q quits, a second walkthrough
(or `run all`) finishes the folder; with stdin not a terminal it never waits."""

from __future__ import annotations

import os
import re
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
AFTER = "[Enter] next step"


class Tmux:
    """One tmux server on a private socket, running one command in a fixed-size window."""

    def __init__(self, command: list[str], cwd: Path, width: int = 200) -> None:
        self.tmux = need_program("tmux")
        self.socket = f"kpki-test-{uuid.uuid4().hex[:8]}"
        env = f"PYTHONPATH={shlex.quote(str(REPO))}"
        self._run(
            "new-session", "-d", "-x", str(width), "-y", "50", "-s", "walk", "-c", str(cwd),
            f"env {env} {shlex.join(command)}; echo EXITED=$?; sleep 30",
        )  # fmt: skip

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, "-L", self.socket, *args], capture_output=True, text=True, timeout=20
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self, joined: bool = True) -> str:
        """The pane and its history; `joined` rejoins lines the terminal itself wrapped."""
        return self._run("capture-pane", "-p", *(["-J"] if joined else []), "-S", "-2000",
                         "-t", "walk")  # fmt: skip

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

    def start(out: Path, width: int = 200, *extra: str) -> Tmux:
        command = [sys.executable, "-m", "kpki_openssl", "walkthrough", "--out", str(out), *SETS,
                   *extra]  # fmt: skip
        session = Tmux(command, tmp_path, width)
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
    screen = term.wait_for(lambda s: s.count(AFTER) == 1, "the pause after the CA's result")
    # openssl's own DN form: "CN = x" on 3.0, "CN=x" from 3.2
    assert re.search(r"subject=CN ?= ?KUBERNETES-CA", screen) and "CA:TRUE" in screen
    assert "ca.key  " in screen and "mode 0600" in screen
    assert "step admin" not in screen  # the result stays on the screen until a key
    assert (out / "ca.crt").exists() and not (out / "admin.key").exists()
    term.keys("Enter")
    term.wait_for(lambda s: s.count(PROMPT) == 2, "the second prompt")
    term.keys("Enter")
    screen = term.wait_for(lambda s: s.count(AFTER) == 2, "the pause after admin's result")
    assert re.search(r"subject=CN ?= ?kube-admin, O ?= ?system:masters", screen)
    assert "TLS Web Client Authentication" in screen
    term.keys("Enter")
    term.wait_for(lambda s: s.count(PROMPT) == 3, "the third prompt")
    term.keys("s", "Enter")  # skip kube-scheduler: it says what needs it
    screen = term.wait_for(lambda s: s.count(PROMPT) == 4, "the fourth prompt")
    assert "skipped kube-scheduler; these steps need what it makes" in screen
    assert "kube-scheduler.kubeconfig" in screen.split("skipped kube-scheduler")[1]
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


def prose_lines(screen: str) -> list[str]:
    """The screen's lines that are our prose: not commands, not the generated files' text, not
    what openssl printed (those are never wrapped). After a `  $ ` line, the lines indented by
    four spaces are its heredoc or its output, except in explain's Commands section, where
    they are the flags' meanings (prose)."""
    out, section, verbatim = [], "", False
    for line in screen.splitlines():
        if not line.startswith(" "):
            section, verbatim = line, False
        if line.startswith(("  | ", "  document: ", "  ours:     ")):
            continue  # explain's file contents and the document's commands beside ours
        if line.startswith("  $ "):
            verbatim = section != "Commands"
            continue
        if verbatim and line.startswith("    "):
            continue
        verbatim = False
        out.append(line)
    return out


@pytest.mark.parametrize("width", [80, 120])
def test_walkthrough_fits_the_terminal_and_never_splits_a_name(
    tmux_walk, tmp_path: Path, width: int
) -> None:
    """Four steps in a terminal of `width` columns, the pause after each result, the full
    explain on `e`; then every line of prose fits and no name is cut at a hyphen."""
    need_program("openssl")
    out = tmp_path / f"pki{width}"
    steps = ("ca", "kube-scheduler", "kube-controller-manager")
    term = tmux_walk(out, width, *steps)
    for number in range(1, len(steps) + 1):
        term.wait_for(lambda s, n=number: s.count(PROMPT) == n, f"prompt {number}")
        term.keys("Enter")
        term.wait_for(lambda s, n=number: s.count(AFTER) == n, f"pause {number}")
        if number == 3:
            term.keys("e", "Enter")  # the full explain, then the same pause again
            term.wait_for(lambda s: s.count(AFTER) == 4, "the pause after explain")
        term.keys("Enter")
    screen = term.wait_for(lambda s: "EXITED=" in s, "the end")
    assert "EXITED=0" in screen and "Walkthrough finished: 3 steps run" in screen
    assert "The document's commands beside ours" in screen  # explain's text came on `e`
    raw = term.screen(joined=False).splitlines()  # as the terminal shows it
    lines = prose_lines(term.screen())
    # a line wider than the terminal is a wrapping fault unless it is one word on its own (a
    # long path is never split, and a deep temporary folder can be wider than 80 columns)
    too_wide = [ln for ln in lines if len(ln) > width and len(ln.split()) > 1]
    assert not too_wide, too_wide
    assert len(raw) >= len(term.screen().splitlines())
    assert not [ln for ln in lines if ln.rstrip().endswith(("-", "system:kube"))], lines
    cm = "system:kube-controller-manager"
    assert any(cm in ln for ln in lines if "CN=" in ln or "why:" in ln or "departs" in ln), lines
    assert "Where this departs from the document:" in screen
    assert "Flags, in short:" in screen and "-subj the subject" in screen


def test_a_named_step_whose_ca_is_missing_is_refused_before_its_screen(
    tmp_path: Path, capsys
) -> None:
    from kpki_openssl.cli import main as cli_main

    out = tmp_path / "pki"
    assert cli_main(["walkthrough", "--yes", "--out", str(out), "admin"]) == 1
    captured = capsys.readouterr()
    assert "=== [" not in captured.out and "Why:" not in captured.out
    assert "step admin: needs ca.crt, ca.key in" in captured.err
    assert "walk through ca first" in captured.err
    assert not out.exists()


def test_p_after_a_result_proves_the_folder_with_the_real_programs(tmp_path: Path) -> None:
    """The pause after a result: `p` runs prove on the folder as it stands (here only the CA:
    the API server has no certificate yet, and prove says so), then waits again."""
    import io

    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables
    from kpki_openssl.teach.walkthrough import Walkthrough

    need_program("openssl")
    recipe = load_recipe("kubernetes")
    full = build_plan(recipe, resolve_variables(recipe, ["nodes=n1", "key_size=1024"]))
    answers = iter(["", "p", "q"])
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    stream = io.StringIO()
    walk = Walkthrough(tmp_path / "pki", stream, ask, full=full, width=80)
    result = walk.walk(full.select(["ca", "admin"]))
    text = stream.getvalue()
    assert result.ran == ["ca"] and result.quit_at == "admin"
    assert asked[1].startswith(AFTER) and asked[2].startswith(AFTER)  # waits again after prove
    assert "prove: recipe kubernetes" in text
    assert "nothing to serve: apiserver.crt, apiserver.key not in the folder" in text
    assert "Stopped before admin" in text
