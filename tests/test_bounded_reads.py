"""Nothing a folder holds can hang a command, fill its memory or its screen: every read of a file
the folder or the user names is bounded and of regular files only (a FIFO is refused, never
waited on; a 2 GB sparse file is refused before a byte is read), an OpenSSL configuration that
refuses the tool's algorithms is one line, and no line of verify's is longer than a screenful
however long a value in the folder is."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from tests.conftest import need_program, run_cli, run_cli_process
from tests.safety_recipes import tiny_recipe


def bounded(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """run_cli in a thread: a read that blocks (a FIFO) fails the test instead of hanging it."""
    result: list[subprocess.CompletedProcess] = []
    worker = threading.Thread(target=lambda: result.append(run_cli(*argv)), daemon=True)
    worker.start()
    worker.join(timeout)
    assert result, f"{argv} did not finish within {timeout} s"
    return result[0]


def one_line(done: subprocess.CompletedProcess, status: int) -> str:
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny recipe's PKI (read-only: tests copy it)."""
    need_program("openssl")
    root = tmp_path_factory.mktemp("tiny")
    recipe = tiny_recipe(root)
    done = run_cli("run", "all", "--quiet", "--recipe", str(recipe), "--out", str(root / "pki"))
    assert done.returncode == 0, done.stderr
    return root


def copy(tiny: Path, tmp_path: Path) -> tuple[Path, str]:
    pki = tmp_path / "pki"
    shutil.copytree(tiny / "pki", pki)
    return pki, str(tiny / "tiny.yaml")


def test_csr_does_not_wait_on_a_fifo_where_the_csr_belongs(built_pki: Path, tmp_path: Path):
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    (pki / "kube-proxy.csr").unlink()
    os.mkfifo(pki / "kube-proxy.csr")
    err = one_line(bounded("csr", "kube-proxy", "--out", str(pki)), 1)
    assert "kube-proxy.csr: a FIFO, not a regular file" in err


@pytest.mark.parametrize("name", ["kube-proxy.csr", "kube-proxy.key", "ca.crt"])
def test_a_2gb_sparse_file_is_refused_in_one_line(built_pki: Path, tmp_path: Path, name: str):
    """csr, inspect and verify: one line (verify: one line per check of that file), and no
    2 GB read: each finishes under the timeout."""
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    with open(pki / name, "r+b") as sparse:
        sparse.truncate(2 << 30)
    if name.endswith(".csr"):
        err = one_line(bounded("csr", "kube-proxy", "--out", str(pki)), 1)
        assert f"{name}: larger than 1048576 bytes" in err
        return
    err = one_line(bounded("inspect", str(pki / name)), 1)
    assert "larger than 1048576 bytes" in err
    done = bounded("verify", "--out", str(pki), "--quiet")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert any(line.startswith(f"{name}: readable: ") for line in done.stdout.splitlines())


def test_a_fifo_or_a_huge_file_as_the_recipe_is_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "recipe.yaml"
    os.mkfifo(fifo)
    one_line(bounded("list", "--recipe", str(fifo)), 2)
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as sparse:
        sparse.truncate(2 << 30)
    err = one_line(bounded("list", "--recipe", str(huge)), 2)
    assert "larger than" in err


def test_verify_prints_no_line_longer_than_a_screenful(tiny: Path, tmp_path: Path) -> None:
    """A kubeconfig whose server URL is 229,000 characters used to give a 229,000-character
    line; every line is now bounded, and the problem is still named."""
    pki, recipe = copy(tiny, tmp_path)
    config = yaml.safe_load((pki / "admin.kubeconfig").read_text())
    config["clusters"][0]["cluster"]["server"] = "https://" + "a" * 229_000 + ":6443"
    config["users"][0]["name"] = "x\ny"
    (pki / "admin.kubeconfig").write_text(yaml.safe_dump(config))
    for extra in ((), ("--show-commands",)):
        done = run_cli("verify", "--out", str(pki), "--recipe", recipe, "--quiet", *extra)
        assert done.returncode == 1
        lines = (done.stdout + done.stderr).splitlines()
        assert max(map(len, lines)) <= 2100, max(map(len, lines))
        assert any("admin.kubeconfig: server-host: " in line for line in lines)


FIPS_ONLY = """\
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
alg_section = algorithm_sect
[provider_sect]
default = default_sect
[default_sect]
activate = 1
[algorithm_sect]
default_properties = fips=yes
"""


@pytest.mark.parametrize(
    "argv",
    [["verify", "-q"], ["inspect", "ca.crt"], ["check-expiration", "-q"], ["run", "all", "-q"]],
)
def test_a_restrictive_openssl_conf_is_one_line(tiny: Path, tmp_path: Path, argv) -> None:
    """OPENSSL_CONF asking for FIPS algorithms with no FIPS provider: the OpenSSL inside this
    process (cryptography, hashlib) refuses SHA-256 itself. One line, exit 1, no traceback."""
    pki, recipe = copy(tiny, tmp_path)
    conf = tmp_path / "fips.cnf"
    conf.write_text(FIPS_ONLY)
    env = {**os.environ, "OPENSSL_CONF": str(conf)}
    command = [*argv]
    if argv[0] != "inspect":
        command += ["--out", str(pki)]
    if argv[0] in ("verify", "run"):
        command += ["--recipe", recipe]
    done = run_cli_process(*command, cwd=pki, env=env)
    err = one_line(done, 1)
    assert f"OPENSSL_CONF={conf}" in err
