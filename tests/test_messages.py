"""Messages a user reads (issue 19): one test per message. Departures read as sentences, the
flag glosses say what is true, one program name, "did you mean", an empty list refused unless
asked for, Ctrl-C says what is kept and how to finish, host scripts check their folder, and
`list --json` / `run --json`."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpki_openssl.recipe.load import bundled_recipes, load_recipe
from kpki_openssl.teach import flag_glossary
from tests.conftest import REPO, need_program, run_cli
from tests.oracle import openssl_verify

FAST = ("--set", "key_type=ecdsa", "--set", "nodes=n1")


def _departures(recipe):
    yield from recipe.departures
    for row in (*recipe.certificates, *recipe.kubeconfigs, *recipe.components, *recipe.keypairs):
        yield from row.departures


@pytest.mark.parametrize("name", sorted(bundled_recipes()))
def test_departures_read_as_sentences(name: str) -> None:
    """Shown as "the document has X; here Y": X is a noun phrase, never "not given", "not in
    [alt_names]" or a clause with its own verb ("one CA (ca.crt) signs ...")."""
    for dep in _departures(load_recipe(name)):
        head = re.split(r"[(,;]", dep.document, maxsplit=1)[0]
        assert not re.match(r"not\b", dep.document), (name, dep.what, dep.document)
        assert not re.search(r"\b(signs|backdates|says|trusts|is|are)\b", head), (
            name,
            dep.what,
            dep.document,
        )


def test_the_two_glosses_say_what_is_true() -> None:
    """-signkey self-signs (issuer = subject) but CA:TRUE is what makes a CA; a server is
    checked by its subjectAltName, not by the CN -subj sets."""
    signkey = dict((n.text, n.meaning) for n in flag_glossary.explain_argv(
        ["openssl", "x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-out", "ca.crt"]
    ))["-signkey ca.key"]  # fmt: skip
    assert "CA:TRUE" in signkey and "makes a root CA" not in signkey
    subj = flag_glossary.explain_argv(["openssl", "req", "-new", "-subj", "/CN=x"])[2].meaning
    assert "subjectAltName" in subj and "user or host name" not in subj


def test_the_progress_bar_shows_no_markup() -> None:
    from kpki_openssl.base.console import BarProgress

    stream = io.StringIO()
    with BarProgress(2, stream) as bar:
        step = type("Step", (), {"name": "ca"})()
        bar.started(step)
        bar.finished(step)
    assert "[bold]" not in stream.getvalue() and "1/2" in stream.getvalue()


def test_one_program_name_in_the_commands_messages_suggest(tmp_path: Path) -> None:
    """A message that suggests a command names it as a user types it: kpki-openssl ..."""
    missing = run_cli("verify", "--out", str(tmp_path / "none"))
    assert "'kpki-openssl run all'" in missing.stderr
    typo = run_cli("explain", "admn")
    assert "'kpki-openssl list'" in typo.stderr
    walk = run_cli("walkthrough", "--yes", "--out", str(tmp_path / "w"), "admin")
    assert "'kpki-openssl run all'" in walk.stderr
    dry = run_cli("run", "ca", "--dry-run")
    assert "# kpki-openssl plan: recipe kubernetes, 1 step" in dry.stdout
    for done in (missing, typo, walk):
        assert "python" not in done.stderr and "kpki_openssl" not in done.stderr


@pytest.mark.parametrize("variable", ["nodes", "etcd_peers"])
def test_an_empty_list_is_refused_unless_asked_for(variable: str, tmp_path: Path) -> None:
    """`--set nodes=$NODES` with NODES unset: one line naming the field and the value, exit 2,
    nothing built; `--set nodes=[]` says it on purpose."""
    out = tmp_path / "pki"
    done = run_cli("run", "all", "--out", str(out), "--set", f"{variable}=")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"--set {variable}: ''" in done.stderr and f"{variable}=[]" in done.stderr
    assert not out.exists()
    if variable == "nodes":
        listed = run_cli("list", "--set", "nodes=[]")
        assert listed.returncode == 0, listed.stderr
        assert "kubelet-client-" not in listed.stdout and "admin" in listed.stdout


@pytest.mark.parametrize(
    "argv, suggestion",
    [
        (["explain", "kube-schedulr"], "did you mean 'kube-scheduler'?"),
        (["list", "--set", "node=n1"], "did you mean 'nodes'?"),
        (["list", "--recipe", "kubeadmn"], "did you mean 'kubeadm'?"),
    ],
)
def test_did_you_mean(argv: list[str], suggestion: str) -> None:
    done = run_cli(*argv)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert suggestion in done.stderr


def test_ctrl_c_says_what_is_kept_and_the_command_that_finishes(tmp_path: Path) -> None:
    """SIGINT in the middle of a run: one line naming the folder and the command; that command
    then finishes a PKI that verifies."""
    need_program("openssl")
    out = tmp_path / "pki"
    nodes = ",".join(f"n{i}" for i in range(1, 41))  # long enough to be interrupted
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = ["run", "all", "--quiet", "--out", str(out), "--set", f"nodes={nodes}",
            "--set", "key_type=ecdsa"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "kpki_openssl", *argv],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out / "ca.crt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("kpki-openssl: interrupted: the steps finished in ")
    assert str(out) in line and "commands.sh" in line
    finish = line.split("finish with: ", 1)[1]
    assert finish.startswith("kpki-openssl run all --out ")
    import shlex

    done = run_cli(*shlex.split(finish)[1:], "--quiet")
    assert done.returncode == 0, done.stderr
    assert run_cli("verify", "--out", str(out), "--set", f"nodes={nodes}",
                   "--set", "key_type=ecdsa").returncode == 0  # fmt: skip


def test_a_host_script_checks_it_runs_from_a_pki_folder(tmp_path: Path) -> None:
    """Run elsewhere, it names the files it cannot find and installs nothing (exit 1); it
    carries no trust-store setting (it runs no openssl)."""
    need_program("openssl")
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--quiet", "--out", str(out), *FAST).returncode == 0
    script = tmp_path / "install-n1.sh"
    assert run_cli("export", "--host", "n1", "-o", str(script), *FAST).returncode == 0
    assert "SSL_CERT_FILE" not in script.read_text()
    root = tmp_path / "root"
    wrong = subprocess.run(["bash", str(script), str(root)], cwd=tmp_path, capture_output=True,
                           text=True)  # fmt: skip
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1, wrong.stderr
    assert "run this from the PKI folder" in wrong.stderr and "kubelet-n1.crt" in wrong.stderr
    assert not root.exists()
    right = subprocess.run(["bash", str(script), str(root)], cwd=out, capture_output=True,
                           text=True)  # fmt: skip
    assert right.returncode == 0, right.stderr
    assert (root / "var/lib/kubelet/kubelet-n1.crt").read_bytes() == (
        out / "kubelet-n1.crt"
    ).read_bytes()


def test_list_json_and_run_json(tmp_path: Path) -> None:
    need_program("openssl")
    listed = json.loads(run_cli("list", "--json", *FAST).stdout)
    steps = {s["name"]: s for s in listed["steps"]}
    assert steps["admin"]["signed_by"] == "ca" and "admin.crt" in steps["admin"]["writes"]
    assert steps["admin"]["reads"] == ["ca.crt", "ca.key"]
    out = tmp_path / "pki"
    done = run_cli("run", "ca", "admin", "--json", "--quiet", "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ran"] == ["ca", "admin"] and doc["exit_code"] == 0
    assert doc["log"] == str(out / "commands.sh")
    assert openssl_verify(out / "ca.crt", out / "admin.crt").returncode == 0
    again = json.loads(run_cli("run", "ca", "admin", "--json", "--quiet", "--out", str(out),
                               *FAST).stdout)  # fmt: skip
    assert again["ran"] == [] and again["skipped"] == ["ca", "admin"]
    dry = json.loads(run_cli("run", "ca", "--dry-run", "--json", *FAST).stdout)
    argvs = [a["argv"] for a in dry["steps"][0]["actions"] if "argv" in a]
    assert [a[:2] for a in argvs] == [["openssl", "genpkey"], ["openssl", "req"],
                                      ["openssl", "x509"]]  # fmt: skip
