"""Shared fixtures: a real PKI built once per session, and oracles that are not our code."""

from __future__ import annotations

import gc
import io
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from kpki_openssl.base import openssl_version
from kpki_openssl.cli import main as cli_main

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_HYPOTHESIS_HOME = pytest.StashKey[Path]()


def need_root(why: str = "mounting a tmpfs needs root") -> None:
    """Skip on a user's machine when not root; CI runs as root, so there it must run."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail(f"CI runs as root: this test must run there ({why})")
        pytest.skip(why)


def need_program(name: str) -> str:
    """The program's path; skip on a user's machine without it, fail in CI (CI=true)."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; .ci/run must install it")
        pytest.skip(f"{name} is not installed (scripts/install-system-deps.sh installs it)")
    return path


def openssl_writes_v1() -> bool:
    """Whether the openssl on PATH writes a v1 certificate from `x509 -req` without
    extensions (3.0 and 3.1; 3.2 and later always write v3): the document's CA is then v1."""
    done = subprocess.run([need_program("openssl"), "version"], capture_output=True, text=True)
    return openssl_version.check(done.stdout)[:2] < openssl_version.V3_ALWAYS


# No example database: it would be written to .hypothesis/ in the repository.
settings.register_profile("kpki", database=None)
settings.load_profile("kpki")


def pytest_configure(config: pytest.Config) -> None:
    """hypothesis also caches constants under .hypothesis/ of the folder pytest starts in
    (the repository): a folder of this session's instead, removed at the end."""
    config.stash[_HYPOTHESIS_HOME] = Path(tempfile.mkdtemp(prefix="kpki-hypothesis-"))
    set_hypothesis_home_dir(config.stash[_HYPOTHESIS_HOME])
    # A suite started in the background of a non-interactive shell inherits SIGINT ignored,
    # and so would every program a test starts: the Ctrl-C tests would send it in vain. A
    # handler here is reset to the default in each child (an ignored signal is not).
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(config.stash.get(_HYPOTHESIS_HOME, ""), ignore_errors=True)


def _isolate(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Work in `folder`, with HOME inside it (not created: kubectl makes ~/.kube/cache there
    when it needs it) and no KUBECONFIG or XDG folders from the user. The programs the tool
    starts (base/processes.py) get this process's environment as it is when they start."""
    monkeypatch.chdir(folder)
    monkeypatch.setitem(os.environ, "HOME", str(folder / "home"))
    for name in ("KUBECONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        if name in os.environ:
            monkeypatch.delitem(os.environ, name)


@pytest.fixture(scope="session", autouse=True)
def session_folder(tmp_path_factory: pytest.TempPathFactory):
    """The same for the session- and module-scoped fixtures, which start before any test."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, tmp_path_factory.mktemp("session"))
        yield


@pytest.fixture(autouse=True)
def own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own empty tmp_path and writes nothing outside it: not the
    user's home, not the repository (where `make pki` leaves ./pki)."""
    _isolate(monkeypatch, tmp_path)
    return tmp_path


def run_cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command line in this process: `main(argv)` with stdout and stderr captured (as a
    pipe, not a terminal) and an empty stdin, run in `cwd` (default: the test's own folder).

    A subprocess costs ~0.3 s of start-up; use run_cli_process only where a process is the
    point (another PATH, a terminal, a signal, two writers at once, the umask)."""
    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_stdin = os.getcwd(), sys.stdin
    try:
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin = io.StringIO("")
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = cli_main(list(argv))
            except SystemExit as exc:  # argparse: --help, --version, a usage error
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.stdin = old_stdin
        os.chdir(old_cwd)
        gc.unfreeze()  # load_plan freezes what it built; in a long test session, let it go
    return subprocess.CompletedProcess(
        ["kpki-openssl", *argv], code, out.getvalue(), err.getvalue()
    )


def run_cli_process(
    *argv: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """The real command line in a subprocess, as a user would type it.

    PYTHONPATH points at this checkout, so the code under test runs whatever is installed.
    """
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "kpki_openssl", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
def built_pki(tmp_path_factory) -> Path:
    """`run all` with the bundled recipe, once per test session (read-only for tests)."""
    need_program("openssl")
    out = tmp_path_factory.mktemp("pki") / "pki"
    assert cli_main(["run", "all", "--quiet", "--out", str(out)]) == 0
    return out


ETCD_PEERS = ("etcdpeer1", "etcdpeer2", "etcdpeer3")


def consumer_sets(out: Path) -> list[str]:
    """The issue's three etcd peers, with the host folders pointing at the output folder itself,
    so the paths inside the generated flags and config files resolve on this machine. ECDSA
    keys: these PKIs are for the consumers (kubectl, etcd, curl), not about key types
    (test_key_types is), and build in ~2 s instead of ~8 s with RSA-2048."""
    return [
        "--set", f"etcd_peers={','.join(ETCD_PEERS)}",
        "--set", f"host_pki_dir={out}",
        "--set", f"host_kubelet_dir={out}",
        "--set", "key_type=ecdsa",
    ]  # fmt: skip


@pytest.fixture(scope="session")
def consumer_pki(tmp_path_factory) -> Path:
    """`run all --set etcd_peers=etcdpeer1,etcdpeer2,etcdpeer3` for the real-program tests
    (path-form kubeconfigs; read-only for tests)."""
    need_program("openssl")
    out = tmp_path_factory.mktemp("consumer") / "pki"
    assert cli_main(["run", "all", "--quiet", "--out", str(out), *consumer_sets(out)]) == 0
    return out


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory) -> Path:
    """A second, unrelated PKI (its own CA and etcd CA) with its own admin and etcd client
    certificates: what must be refused by servers that trust only the first one's CAs."""
    need_program("openssl")
    out = tmp_path_factory.mktemp("foreign") / "pki"
    argv = ["run", "ca", "etcd-ca", "admin", "apiserver-etcd-client", "--quiet", "--out", str(out)]
    argv += ["--set", "key_type=ecdsa"]  # as consumer_pki's
    assert cli_main(argv) == 0
    return out
