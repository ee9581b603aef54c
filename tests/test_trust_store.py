"""The trust-store setting (trust_store_setting.py): what openssl really opens with and without it, that
the runner and the exported script set the same thing, that it changes no certificate, and that
the chain check trusts our CA and nothing from the system store."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kpki_openssl.base import processes, trust_store_setting
from kpki_openssl.cli import main as cli_main
from kpki_openssl.plan import openssl_argv, shell_text
from tests.conftest import REPO, need_program, run_cli


def openssl(cwd: Path, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def default_cert_file() -> set[str]:
    """OPENSSLDIR/cert.pem as this openssl reports it, and where it leads (often a link)."""
    done = subprocess.run(["openssl", "version", "-d"], capture_output=True, text=True, timeout=30)
    path = os.path.join(re.search(r'"(.*)"', done.stdout).group(1), "cert.pem")
    return {path, os.path.realpath(path)}


def opened(trace: Path) -> list[str]:
    """Every path an openat() in an strace -f log opened successfully."""
    lines = trace.read_text().splitlines()
    return [m.group(1) for ln in lines if (m := re.search(r'openat\([^"]*"([^"]+)".*= \d+$', ln))]


def strace(cwd: Path, argv: list[str], env: dict) -> list[str]:
    need_program("strace")
    trace = cwd / "trace.log"
    subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace), *argv],
        cwd=cwd, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return opened(trace)


def test_prologue_and_runner_set_the_same_variable(tmp_path: Path) -> None:
    """One source: the value bash has after the script's prologue is what the runner's children
    get (base/processes.py starts every one of them)."""
    need_program("bash")
    assert trust_store_setting.PROLOGUE in shell_text.SCRIPT_PROLOGUE
    from_script = subprocess.run(
        ["bash", "-c", shell_text.SCRIPT_PROLOGUE + f'printf %s "${trust_store_setting.VARIABLE}"'],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    printed = processes.run(["printenv", trust_store_setting.VARIABLE], timeout=processes.READ)
    from_runner = printed.stdout.rstrip("\n")
    assert from_script == from_runner == "/dev/null"
    assert (
        len(trust_store_setting.PROLOGUE.splitlines()) == 2
    )  # one comment line saying why, one export


def test_openssl_x509_loads_the_bundle_only_without_the_setting(tmp_path: Path) -> None:
    """What the setting claims, from strace: openssl x509 opens the default CA file, and does
    not with SSL_CERT_FILE=/dev/null."""
    need_program("openssl")
    bundle = default_cert_file()
    if not any(map(os.path.exists, bundle)):
        pytest.skip(f"{bundle}: this openssl has no default CA file to load")
    openssl(tmp_path, "genpkey", "-algorithm", "ED25519", "-out", "k")
    openssl(tmp_path, "req", "-new", "-x509", "-key", "k", "-subj", "/CN=t", "-out", "t.crt")
    read = ["openssl", "x509", "-in", "t.crt", "-noout", "-subject"]
    plain = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    assert bundle & set(strace(tmp_path, read, plain))
    with_setting = set(strace(tmp_path, read, {**plain, **trust_store_setting.ENV}))
    assert not bundle & with_setting and "/dev/null" in with_setting


def test_replayed_script_and_run_never_load_the_bundle(tmp_path: Path) -> None:
    """The exported script, replayed by bash, and `run` itself: no openssl they start opens the
    system CA file (every x509 -req would without the setting)."""
    need_program("openssl")
    bundle = default_cert_file()
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["PYTHONPATH"] = str(REPO)
    sets = ["--set", "key_type=ed25519", "--set", "sa_key_type=ecdsa", "--set", "nodes=n1"]
    script = tmp_path / "build.sh"
    assert cli_main(["export", "ca", "admin", "apiserver", "-o", str(script), *sets]) == 0
    (tmp_path / "by-hand").mkdir()
    seen = strace(tmp_path / "by-hand", ["bash", str(script)], env)
    assert (tmp_path / "by-hand" / "apiserver.crt").is_file()
    assert not bundle & set(seen) and "/dev/null" in seen
    (tmp_path / "run").mkdir()
    argv = [sys.executable, "-m", "kpki_openssl", "run", "ca", "admin", "-q", "--out", "pki", *sets]
    seen = strace(tmp_path / "run", argv, env)
    assert (tmp_path / "run" / "pki" / "admin.crt").is_file()
    assert not bundle & set(seen)


def test_the_setting_changes_no_certificate(tmp_path: Path) -> None:
    """The same CSR signed with and without the setting (Ed25519 signs deterministically, the
    serial is fixed): the same bytes, given the same second."""
    need_program("openssl")
    openssl(tmp_path, "genpkey", "-algorithm", "ED25519", "-out", "ca.key")
    openssl(tmp_path, "req", "-new", "-key", "ca.key", "-subj", "/CN=CA", "-out", "ca.csr")
    plain = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    sign = ["x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-days", "9", "-set_serial", "7"]
    for _attempt in range(3):  # the two signatures must fall in the same second
        openssl(tmp_path, *sign, "-out", "a.crt", env=plain)
        openssl(tmp_path, *sign, "-out", "b.crt", env={**plain, **trust_store_setting.ENV})
        a, b = (tmp_path / "a.crt").read_bytes(), (tmp_path / "b.crt").read_bytes()
        dates = [openssl(tmp_path, "x509", "-in", f, "-noout", "-dates").stdout for f in "ab"]
        if dates[0] == dates[1].replace("b.crt", "a.crt"):
            break
    assert a.startswith(b"-----BEGIN CERTIFICATE-----") and a == b


def system_root_our_ca_accepts(ca: Path) -> Path | None:
    """A public root of the system store that plain `openssl verify -CAfile ca.crt` accepts:
    the hazard, shown on this machine."""
    folder = Path("/etc/ssl/certs")
    for root in sorted(folder.glob("*.pem"))[:40] if folder.is_dir() else []:
        plain = ["verify", "-x509_strict", "-CAfile", str(ca), str(root)]
        if openssl(ca.parent, *plain).returncode == 0:
            return root
    return None


def test_a_public_root_does_not_verify_against_our_ca(built_pki: Path, tmp_path: Path) -> None:
    """Our chain check trusts our ca.crt alone, with or without the setting; verify reports a
    public root put in place of admin.crt as not chaining to our CA."""
    need_program("openssl")
    root = system_root_our_ca_accepts(built_pki / "ca.crt")
    if root is None:
        pytest.skip("no system root that plain openssl verify accepts (no system CA folder)")
    setting = {**os.environ, **trust_store_setting.ENV}
    plain = ["verify", "-x509_strict", "-CAfile", "ca.crt", str(root)]
    assert openssl(built_pki, *plain, env=setting).returncode == 0  # the setting is not the fix
    for env in (None, setting):
        ours = openssl(built_pki, *openssl_argv.verify_argv("ca.crt", [str(root)])[1:], env=env)
        assert ours.returncode != 0, ours.stdout
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    shutil.copyfile(root, pki / "admin.crt")
    chain = [c for c in _verify(pki) if c["file"] == "admin.crt" and c["check"] == "chain"]
    assert chain and not chain[0]["ok"], chain


def _verify(pki: Path) -> list[dict]:
    import contextlib
    import io
    import json

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        assert cli_main(["verify", "--out", str(pki), "--json", "--quiet"]) == 1
    return json.loads(buf.getvalue())["checks"]


def test_the_setting_stays_where_it_is_needed(tmp_path: Path) -> None:
    """The exported build script and commands.sh carry the export (run's children get the
    variable); what a learner reads or pastes leads with the document's commands: the dry run
    (the bundled recipe's and the document's) only ends with a note of what run adds, and
    explain, the handout and the host install scripts never carry it."""
    setting = f"export {trust_store_setting.VARIABLE}={trust_store_setting.VALUE}"
    assert setting in run_cli("export").stdout
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "--quiet", "--out", str(out)).returncode == 0
    assert setting in (out / "commands.sh").read_text()
    for recipe in ("kubernetes", "as-written"):
        dry = run_cli("run", "all", "--dry-run", "--recipe", recipe).stdout
        assert setting not in dry
        assert dry.endswith(trust_store_setting.NOTE)
        first = next(ln for ln in dry.splitlines() if ln and not ln.startswith("#"))
        assert first.startswith("cat > ") or first.startswith("openssl "), first
    for argv in (["explain", "ca"], ["explain", "all"], ["export", "--format", "markdown"],
                 ["export", "--host", "node01"], ["export", "--node", "node01"]):  # fmt: skip
        done = run_cli(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert trust_store_setting.VARIABLE not in done.stdout, argv
