"""Parallel runs (--jobs): the same PKI, the same log, the same output as one step at a time.

The CLI runs are real (subprocess, real openssl, ecdsa keys so they stay fast); the scheduler
tests run real threads over small plans with work functions that sleep, to force finishing
orders that differ from plan order.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpki_openssl.execute import scheduler
from tests.conftest import REPO, run_cli
from tests.expected import CAS
from tests.oracle import load_cert, openssl_verify, sans, subject_pairs, verifying_cas

NODES = "n1,n2,n3,n4,n5,n6"
# embed_certs=yes: each kubeconfig reads its certificate, so it must wait for that step
FAST = ("--set", "key_type=ecdsa", "--set", f"nodes={NODES}", "--set", "etcd_peers=e1,e2",
        "--set", "embed_certs=yes")  # fmt: skip
CERTS = 3 + 7 + 2 * 6 + 1 + 2 + 1  # 3 CAs, 7 single leaves, 2 per node, etcd, 2 peers, apiserver
KUBECONFIGS = 4 + 6  # admin, scheduler, controller-manager, proxy; one per node


def _plan_steps() -> list[str]:
    listed = run_cli("list", *FAST)
    assert listed.returncode == 0, listed.stderr
    return [ln.split()[0] for ln in listed.stdout.splitlines()[1:]]


def _commands(log: Path) -> list[str]:
    """The log without its comment lines (which carry times): commands and heredocs."""
    return [ln for ln in log.read_text().splitlines() if not ln.startswith("#")]


def _certificates(folder: Path) -> dict[str, tuple]:
    return {
        p.name: (subject_pairs(c), sans(c), c.issuer.rfc4514_string())
        for p in sorted(folder.glob("*.crt"))
        for c in [load_cert(p)]
    }


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess, ...]:
    base = tmp_path_factory.mktemp("parallel")
    one, many = base / "one", base / "many"
    first = run_cli("run", "all", "--jobs", "1", "--out", str(one), *FAST)
    second = run_cli("run", "all", "--jobs", "4", "--out", str(many), *FAST)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    return one, many, first, second


def test_parallel_run_makes_the_same_files_and_certificates(two_runs) -> None:
    one, many, _, _ = two_runs
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in many.iterdir())
    assert len(list(many.glob("*.crt"))) == CERTS
    assert len(list(many.glob("*.kubeconfig"))) == KUBECONFIGS
    assert _certificates(one) == _certificates(many)
    for cert in many.glob("*.crt"):
        assert len(verifying_cas(many, cert, CAS)) == 1, cert.name


def test_parallel_run_logs_in_plan_order(two_runs) -> None:
    one, many, first, second = two_runs
    assert _commands(one / "commands.sh") == _commands(many / "commands.sh")
    # progress lines on stderr: plan order too, whatever finished first
    assert first.stderr == second.stderr
    assert first.stderr.splitlines()[0].startswith("step  ca:")
    assert [ln.split()[1].rstrip(":") for ln in first.stderr.splitlines()] == _plan_steps()


def test_parallel_signers_get_distinct_serials_and_no_serial_file(two_runs) -> None:
    _, many, _, _ = two_runs
    serials = [load_cert(p).serial_number for p in many.glob("*.crt")]
    assert len(set(serials)) == len(serials) == CERTS
    assert not list(many.glob("*.srl"))


def test_progress_piped_is_plain_and_quiet_is_silent(two_runs, tmp_path: Path) -> None:
    _, _, _, second = two_runs
    assert "\x1b[" not in second.stderr and "\r" not in second.stderr
    assert all(ln.startswith("step  ") for ln in second.stderr.splitlines())
    quiet = run_cli("run", "all", "-q", "--out", str(tmp_path / "q"), *FAST)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith(f"{tmp_path / 'q'}: {len(_plan_steps())} steps run")


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """stderr on a pseudo-terminal: a rich bar counting steps to the total; stdout stays plain."""
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kpki_openssl", "run", "all", "--out", str(tmp_path / "p"), *FAST],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out, _ = proc.communicate(timeout=60)
    finally:  # never leave the run behind, whatever failed above
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        os.close(master)
    assert proc.returncode == 0
    text = seen.decode("utf-8", "replace")
    steps = len(_plan_steps())
    assert f"{steps}/{steps}" in text  # steps done of total
    assert "\x1b[" in text  # drawn, not printed
    assert "step  kubelet-n6" in text  # report lines still shown, above the bar
    assert b"\x1b[" not in out and out.decode().startswith(str(tmp_path / "p"))


@pytest.mark.parametrize("dry", [[], ["--dry-run"]])
@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_jobs_is_one_line_exit_2(tmp_path: Path, value: str, dry: list[str]) -> None:
    done = run_cli("run", "all", "--jobs", value, "--out", str(tmp_path / "pki"), *dry)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--jobs" in done.stderr and value in done.stderr
    assert not (tmp_path / "pki").exists()


BROKEN_RECIPE = """
name: broken
variables:
  key_type: {default: ecdsa}
  days: {default: 30}
  ca_days: {default: 365}
profiles:
  ca: {ca: true, key_usage: [keyCertSign, cRLSign]}
  client: {key_usage: [digitalSignature], extended_key_usage: [clientAuth]}
certificates:
  - {name: ca, profile: ca, subject: {CN: test-ca}}
  - {name: a1, ca: ca, profile: client, subject: {CN: a1}}
  - {name: bad, ca: ca, profile: client, subject: {CN: bad}, cnf: {file: bad.cnf, text: "[req"}}
""" + "".join(
    f"  - {{name: a{i}, ca: ca, profile: client, subject: {{CN: a{i}}}}}\n" for i in range(3, 12)
)


def test_failure_in_a_parallel_run_stops_and_logs_what_ran(tmp_path: Path) -> None:
    """`bad`'s .cnf does not parse, so its `req` fails while other steps run: the run starts
    nothing new, logs what ran in plan order (the failure commented out) and exits 1."""
    recipe = tmp_path / "broken.yaml"
    recipe.write_text(BROKEN_RECIPE)
    out = tmp_path / "pki"
    done = run_cli("run", "all", "--jobs", "2", "--recipe", str(recipe), "--out", str(out))
    assert done.returncode == 1
    assert "openssl req -new -key bad.key -subj /CN=bad -out bad.csr -config bad.cnf" in done.stderr
    log = (out / "commands.sh").read_text()
    assert "\n# openssl req -new -key bad.key" in log  # the failure, commented out
    logged = list(dict.fromkeys(ln.split()[3].rstrip(":") for ln in log.splitlines()
                                if ln.startswith("# 20") and " step " in ln))  # fmt: skip
    plan_order = ["ca", "a1", "bad", *(f"a{i}" for i in range(3, 12))]
    assert logged[:3] == ["ca", "a1", "bad"] or logged[:2] == ["ca", "bad"]
    assert logged == sorted(logged, key=plan_order.index)  # plan order, whatever finished first
    assert "a11" not in logged and not (out / "a11.crt").exists()  # never started
    assert not (out / "bad.key").exists()  # a failed step leaves nothing in the folder
    assert verify_all(out, [n for n in logged if n != "bad"])


def verify_all(out: Path, names: list[str]) -> bool:
    return all(openssl_verify(out / "ca.crt", out / f"{n}.crt").returncode == 0 for n in names)


# --- the scheduler itself, with real threads -------------------------------------------------


@dataclass(frozen=True)
class _SchedStep:
    """What the scheduler reads of a step: its name, the steps it needs, its files."""

    name: str
    needs: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]


def _step(name: str, needs: tuple[str, ...] = (), reads=(), writes=()) -> _SchedStep:
    return _SchedStep(name, needs, tuple(reads), tuple(writes) or (f"{name}.out",))


def test_dependencies_from_needs_and_from_files() -> None:
    steps = [
        _step("ca"),
        _step("a", needs=("ca",)),
        _step("b", needs=("ca",)),
        _step("kubeconfig", reads=("a.out",), writes=("a.kubeconfig",)),
        _step("elsewhere", needs=("not-in-this-run",)),
    ]
    assert scheduler.dependencies(steps) == [(), (0,), (0,), (1,), ()]


def test_results_are_emitted_in_plan_order_while_running_concurrently() -> None:
    names = ["ca", "s1", "s2", "s3", "s4", "s5"]
    steps = [_step("ca")] + [_step(n, needs=("ca",)) for n in names[1:]]
    delay = {"ca": 0.05, "s1": 0.4, "s2": 0.05, "s3": 0.3, "s4": 0.0, "s5": 0.1}
    lock = threading.Lock()
    running, peak, finished_order, emitted = [0], [0], [], []

    def work(step: _SchedStep) -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(delay[step.name])
        with lock:
            running[0] -= 1
            finished_order.append(step.name)
        return step.name.upper()

    results = scheduler.run_in_order(
        steps, work, jobs=3, emit=lambda s, r: emitted.append((s.name, r))
    )
    assert results == [n.upper() for n in names]
    assert emitted == [(n, n.upper()) for n in names]
    assert finished_order[0] == "ca" and finished_order != names  # really out of order
    assert peak[0] == 3


def test_a_failure_stops_new_steps_and_is_raised_after_the_running_ones_end() -> None:
    steps = [_step("ca")] + [_step(f"s{i}", needs=("ca",)) for i in range(1, 7)]
    started, emitted = [], []

    def work(step: _SchedStep) -> str:
        started.append(step.name)
        if step.name == "s1":
            raise RuntimeError("s1 broke")
        time.sleep(0.2 if step.name == "s2" else 0.0)
        return step.name

    with pytest.raises(RuntimeError, match="s1 broke"):
        scheduler.run_in_order(steps, work, jobs=2, emit=lambda s, r: emitted.append(s.name))
    assert started[0] == "ca" and set(started) == {"ca", "s1", "s2"}  # nothing new after s1
    assert emitted == ["ca", "s2"]  # s2 was running: it finished and was recorded


def test_with_one_job_the_next_step_runs_while_the_last_one_is_emitted() -> None:
    steps = [_step("ca")] + [_step(f"s{i}", needs=("ca",)) for i in range(1, 5)]
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    running = [0]

    def work(step: _SchedStep) -> str:
        with lock:
            running[0] += 1
            assert running[0] == 1  # one step's work at a time
            events.append(("work", step.name))
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return step.name

    def emit(step: _SchedStep, _result: str) -> None:
        with lock:
            events.append(("emit", step.name))
        time.sleep(0.1)  # installing: the next step's work goes on meanwhile
        with lock:
            events.append(("emitted", step.name))

    scheduler.run_in_order(steps, work, jobs=1, emit=emit)
    order = [e for e in events if e[0] != "emitted"]
    assert [name for kind, name in order if kind == "emit"] == ["ca", "s1", "s2", "s3", "s4"]
    assert events.index(("work", "s2")) < events.index(("emitted", "s1"))  # overlapped
    assert events.index(("work", "s1")) > events.index(("emitted", "ca"))  # s1 needs ca


def test_a_step_queued_ahead_does_not_start_after_a_failure() -> None:
    steps = [_step(f"s{i}") for i in range(1, 6)]
    started: list[str] = []

    def work(step: _SchedStep) -> str:
        started.append(step.name)
        if step.name == "s1":
            raise RuntimeError("s1 broke")
        return step.name

    with pytest.raises(RuntimeError, match="s1 broke"):
        scheduler.run_in_order(steps, work, jobs=1, emit=lambda s, r: None)
    assert started == ["s1"]  # s2 waited in the queue: it never ran
