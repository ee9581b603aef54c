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

    def __init__(self, command: list[str], cwd: Path, width: int = 200, height: int = 50) -> None:
        self.tmux = need_program("tmux")
        self.socket = f"kpki-test-{uuid.uuid4().hex[:8]}"
        env = f"PYTHONPATH={shlex.quote(str(REPO))}"
        conf = cwd / f"tmux-{self.socket}.conf"  # the whole walkthrough stays in the history
        conf.write_text("set -g history-limit 100000\n")
        self._run(
            "-f", str(conf), "new-session", "-d", "-x", str(width), "-y", str(height),
            "-s", "walk", "-c", str(cwd),
            f"env {env} {shlex.join(command)}; echo EXITED=$?; sleep 60",
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

    def visible(self) -> str:
        """What the terminal shows now (no history), as its rows."""
        return self._run("capture-pane", "-p", "-t", "walk")

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
    term.keys("s")  # one key, no Enter: skip kube-scheduler; it says what needs it
    screen = term.wait_for(lambda s: s.count(PROMPT) == 4, "the fourth prompt")
    assert "skipped kube-scheduler; these steps need what it makes" in screen
    assert "kube-scheduler.kubeconfig" in screen.split("skipped kube-scheduler")[1]
    term.keys("q")
    screen = term.wait_for(lambda s: "EXITED=" in s, "the walkthrough to end")
    assert "EXITED=0" in screen and "Stopped before kube-controller-manager" in screen
    assert "finish with: kpki-openssl run all --out" in " ".join(screen.split())
    made = sorted(p.name for p in out.glob("*.crt"))
    assert made == ["admin.crt", "ca.crt"]

    # resume in a second terminal: the two finished steps are passed over, not redone
    ca_key = (out / "ca.key").read_bytes()
    term2 = tmux_walk(out)
    screen = term2.wait_for(lambda s: PROMPT in s, "the resumed prompt")
    assert "already done: ca (ca.cnf, ca.key, ca.csr, ca.crt exist" in screen
    assert "step kube-scheduler" in screen.split("already done")[-1]
    term2.keys("q")
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
    lines = (out / "commands.sh").read_text().splitlines()
    commands = [ln.split("] || ", 1)[-1] for ln in lines]  # a key command's guard set aside
    logged = [ln for ln in commands if ln.startswith("openssl")]
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
    assert "already done: ca (ca.cnf, ca.key, ca.csr, ca.crt exist" in done.stdout
    assert "keeps the existing key admin.key" in done.stdout
    assert (out / "admin.key").read_bytes() == key
    assert openssl_verify(out / "ca.crt", out / "admin.crt").returncode == 0


PROMPT_LINE = re.compile(r"\[Enter\] .* >( \S*)?$")
TOKEN = re.compile(r"[A-Za-z0-9.-]")


def split_tokens(joined: str, width: int) -> list[str]:
    """Where the terminal itself broke a line (capture-pane -J joins such lines back) inside a
    name: a letter, digit, dot or hyphen on both sides of the break."""
    found = []
    for line in joined.splitlines():
        for cut in range(width, len(line), width):
            if TOKEN.match(line[cut - 1]) and TOKEN.match(line[cut]):
                found.append(f"{line[max(0, cut - 30) : cut]}|{line[cut : cut + 30]}")
    return found


def walk_to_the_end(term: Tmux, rows: int) -> tuple[list[int], list[str], int]:
    """Enter at every prompt until the walkthrough ends: each page's height (its rows from
    the one after the last prompt to its own prompt), what the terminal showed at each run
    prompt, and how many prompts there were."""
    pages, at_run, seen = [], [], 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        history = term.screen(joined=False).rstrip("\n").splitlines()
        while history and not history[-1].strip():
            history.pop()
        prompts = [i for i, ln in enumerate(history) if PROMPT_LINE.search(ln)]
        if any("EXITED=" in ln for ln in history[-3:]):
            return pages, at_run, seen
        if len(prompts) > seen and prompts[-1] == len(history) - 1:
            seen = len(prompts)
            previous = prompts[-2] if len(prompts) > 1 else -1
            pages.append(len(history) - 1 - previous)
            if "[Enter] run" in history[-1]:
                at_run.append(term.visible())
            term.keys("Enter")
            continue
        time.sleep(0.05)
    raise AssertionError(f"the walkthrough did not end; screen:\n{term.visible()}")


@pytest.mark.real
@pytest.mark.parametrize(
    "width, rows, extra",
    [
        (80, 24, ()),
        pytest.param(120, 40, (), marks=pytest.mark.long),
        pytest.param(120, 40, ("--compact",), marks=pytest.mark.long),
        pytest.param(80, 24, ("--no-compact",), marks=pytest.mark.long),
    ],
    ids=["80x24-compact", "120x40-full", "120x40-compact", "80x24-full"],
)
def test_every_page_fits_its_terminal(
    tmp_path: Path, width: int, rows: int, extra: tuple[str, ...]
) -> None:
    """The bundled recipe in a real terminal, Enter at every prompt: every page is at most
    rows - 1 rows (its prompt included), the terminal never breaks a name, a step's title and
    its Why are on the screen whenever a run prompt is, and compact mode (the default on 24
    rows) walks all 38 steps in at most 20 screens."""
    need_program("openssl")
    command = [sys.executable, "-m", "kpki_openssl", "walkthrough", "--out", "pki", *extra]
    term = Tmux(command, tmp_path, width, rows)
    try:
        pages, at_run, prompts = walk_to_the_end(term, rows)
        history = term.screen(joined=False)
        joined = term.screen()
    finally:
        term.close()
    assert "EXITED=0" in history and "Walkthrough finished: 38 steps run" in " ".join(
        joined.split()
    )
    assert max(pages) <= rows - 1, sorted(pages)[-5:]
    assert not split_tokens(joined, width)
    # the terminal itself wraps nothing but a word longer than a line (none here)
    assert not [ln for ln in joined.splitlines() if len(ln) > width], width
    for shown in at_run:
        visible = shown.splitlines()
        assert any(ln.startswith("=== [") for ln in visible), shown
        assert any(ln.startswith("Why") for ln in visible), shown
    compact = "--compact" in extra or (rows < 30 and "--no-compact" not in extra)
    if compact:
        assert prompts <= 20, prompts
        assert "node02 and node03: the same commands" in joined
    else:  # every step has its own run prompt, with its own title on the screen
        assert len(at_run) == 38
        for number, shown in enumerate(at_run, 1):
            assert f"=== [{number}/38] step " in shown, (number, shown)
    assert (tmp_path / "pki" / "kubelet-node03.crt").exists()
    # display only: the log keeps one line per command
    log = (tmp_path / "pki" / "commands.sh").read_text()
    # (a key command's guard, `[ -e KEY ] || \\`, is the one continued line: the script's own)
    assert not [ln for ln in log.splitlines() if ln.endswith(" \\") and not ln.startswith("[ -e ")]


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
    flat = " ".join(text.replace("↪", " ").split())  # prove's lines fitted to 80 columns
    assert "nothing to serve: apiserver.crt not yet built (step " in flat  # a later step
    assert "Stopped before admin" in text


def test_the_lesson_walks_one_step_of_each_kind(tmp_path: Path) -> None:
    """--lesson: a CA, a user, a system component, the API server, a kubelet's client and
    serving certificates (node01 only), etcd with its CA, a kubeconfig, a flags file."""
    need_program("openssl")
    done = run_cli("walkthrough", "--lesson", "--yes", "--out", str(tmp_path / "pki"))
    assert done.returncode == 0, done.stderr
    shown = re.findall(r"^=== \[\d+/(\d+)\] step (\S+):", done.stdout, re.M)
    assert [name for _total, name in shown] == [
        "ca", "admin", "kube-scheduler", "etcd-ca", "kubelet-client-node01", "etcdserver",
        "apiserver", "kubelet-node01", "admin.kubeconfig", "kube-apiserver.flags",
    ]  # fmt: skip
    assert "Walkthrough finished: 10 steps run" in done.stdout
    refused = run_cli("walkthrough", "--lesson", "--yes", "ca")
    assert refused.returncode == 2 and "--lesson" in refused.stderr


def test_after_the_first_certificate_only_what_differs(tmp_path: Path) -> None:
    """The first .cnf whole; later ones name the sections already shown and show their
    [v3_*] section; a flag is glossed once; a kubeconfig shows the four kubectl config
    commands with the YAML as what it writes; commands fold with ` \\` (80 columns)."""
    need_program("openssl")
    steps = ("ca", "admin", "kube-scheduler", "admin.kubeconfig")
    done = run_cli("walkthrough", "--yes", "--out", "pki", *SETS, *steps, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    parts = {name: text.split(f"] step {name}: ", 1)[1] for name in steps}
    assert "\n    [req_distinguished_name]\n" in parts["ca"].split("Made:")[0]
    admin = parts["admin"].split("Made:")[0]
    assert "([req_distinguished_name] as in ca.cnf)" in admin and "[v3_req]" in admin
    scheduler = parts["kube-scheduler"].split("Made:")[0]
    assert "([req] as in admin.cnf; [req_distinguished_name] as in ca.cnf)" in scheduler
    assert "\n    [v3_req]\n    basicConstraints = critical, CA:FALSE" in scheduler
    flat = " ".join(text.split())
    assert flat.count("-CAkey the signing CA's private key") == 1  # glossed once, at admin
    assert "Flags, in short:" not in scheduler  # nothing new to gloss
    kubeconfig = parts["admin.kubeconfig"]
    for sub in ("set-cluster", "set-credentials", "set-context", "use-context"):
        assert f"$ kubectl config {sub} " in kubeconfig
    assert "What this writes: admin.kubeconfig" in kubeconfig
    assert "current-context: kubernetes-admin@kubernetes" in kubeconfig
    assert max(len(ln) for ln in text.splitlines()) <= 80
    assert " \\\n      -" in text  # a folded command


@pytest.mark.parametrize("width", [80, 120])
def test_the_dry_run_and_explain_fit_the_terminal(tmp_path: Path, width: int) -> None:
    """On a terminal the dry run folds its commands at spaces with ` \\` and explain wraps at
    the terminal's width; neither has a line the terminal must break inside a name. Piped,
    the dry run keeps one line per command."""
    for argv in (["run", "all", "--dry-run"], ["explain", "apiserver", "kube-apiserver.flags"]):
        term = Tmux([sys.executable, "-m", "kpki_openssl", *argv], tmp_path, width, 24)
        try:
            term.wait_for(lambda s: "EXITED=" in s, " ".join(argv))
            joined = term.screen()
        finally:
            term.close()
        assert "EXITED=0" in joined
        assert not split_tokens(joined, width), argv
        assert " \\\n" in joined, argv  # a folded command
        longest = max(len(ln) for ln in joined.splitlines() if ln.strip().count(" "))
        assert longest <= width, argv
        if argv[0] == "explain" and width == 120:
            assert longest > 80  # the terminal's width, not 80
    piped = run_cli("run", "all", "--dry-run").stdout
    assert " \\\n" not in piped and "SSL_CERT_FILE=/dev/null (speed only" in piped


def test_tables_at_80_columns_never_split_a_name(tmp_path: Path) -> None:
    """list (too wide for 80 columns: one record per step) and check-expiration (a table whose
    columns give way down to their longest word) in an 80-column terminal."""
    need_program("openssl")
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--quiet", "--out", str(out), *SETS).returncode == 0
    for argv in (["list", *SETS], ["check-expiration", "--out", str(out)]):
        term = Tmux([sys.executable, "-m", "kpki_openssl", *argv], tmp_path, 80, 24)
        try:
            term.wait_for(lambda s: "EXITED=" in s, argv[0])
            joined = term.screen()
        finally:
            term.close()
        assert "EXITED=0" in joined, joined
        assert not split_tokens(joined, 80), argv
        assert "kubelet-client-n1" in joined and "kube-controller-manager" in joined
