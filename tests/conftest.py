"""Shared fixtures: a real PKI built once per session, and oracles that are not our code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kpki_openssl.cli import main as cli_main

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_program(name: str) -> str:
    """The program's path; skip on a user's machine without it, fail in CI (CI=true)."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; .ci/run must install it")
        pytest.skip(f"{name} is not installed (scripts/install-system-deps.sh installs it)")
    return path


def run_cli(
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
    so the paths inside the generated flags and config files resolve on this machine."""
    return [
        "--set", f"etcd_peers={','.join(ETCD_PEERS)}",
        "--set", f"host_pki_dir={out}",
        "--set", f"host_kubelet_dir={out}",
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
    assert cli_main(argv) == 0
    return out
