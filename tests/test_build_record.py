"""The build record: "changed" is decided field by field and names the flag that fixes it;
cosmetic text is never a change; a folder of the previous release is read without a false
change; runs killed during --replace-ca or --force --new-keys leave nothing stuck or false.

The kills are real: an `openssl` first on PATH that SIGKILLs the run (its parent) when it is
asked to sign one given CSR, then the real openssl does the rest of the work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kpki_openssl.cli import main as cli_main
from tests.conftest import REPO, need_program
from tests.expected import CAS, SIGNERS
from tests.oracle import key_matches, load_cert, openssl_verify

FAST = ["--set", "key_type=ecdsa", "--set", "nodes=n1", "--quiet"]
RECIPE = REPO / "recipes" / "kubernetes.yaml"


def run(out: Path, *extra: str) -> int:
    return cli_main(["run", "all", "--out", str(out), *FAST, *extra])


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    need_program("openssl")
    out = tmp_path / "pki"
    assert run(out) == 0
    return out


def test_a_title_or_explanation_edit_is_not_a_change(pki: Path, tmp_path: Path, capsys) -> None:
    text = RECIPE.read_text()
    assert "title: Kubernetes CA (self-signed)" in text
    edited = text.replace("title: Kubernetes CA (self-signed)", "title: Our very own root")
    edited = edited.replace("explain: >-", "explain: >-\n      Edited words.", 1)
    recipe = tmp_path / "edited.yaml"
    recipe.write_text(edited)
    capsys.readouterr()
    assert run(pki, "--recipe", str(recipe)) == 0
    captured = capsys.readouterr()
    assert "changed" not in captured.err and "--replace-ca" not in captured.err
    assert "0 steps run" in captured.out


def test_a_curve_change_needs_new_keys_and_force_alone_does_not_hide_it(pki: Path, capsys) -> None:
    capsys.readouterr()
    assert run(pki, "--set", "ecdsa_curve=P-384") == 3
    err = capsys.readouterr().err
    assert (
        "changed: admin (key type: ecdsa P-256 -> ecdsa P-384) — use --force --new-keys "
        "to re-issue with a new key" in err
    )
    assert "changed: ca (key type: ecdsa P-256 -> ecdsa P-384) — use --replace-ca" in err
    # --force keeps keys: it must not re-sign the old P-256 key and call the folder up to date
    assert run(pki, "--set", "ecdsa_curve=P-384", "--force") == 3
    assert "admin.key: key type: ecdsa P-256 -> ecdsa P-384" in capsys.readouterr().err
    assert run(pki, "--set", "ecdsa_curve=P-384", "--force", "--new-keys") == 3  # the CA stays
    assert run(pki, "--set", "ecdsa_curve=P-384", "--replace-ca") == 0
    assert run(pki, "--set", "ecdsa_curve=P-384") == 0
    for name in ("ca", "admin", "apiserver"):
        cert = load_cert(pki / f"{name}.crt")
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp384r1", name
        assert key_matches(cert, pki / f"{name}.key")
    assert openssl_verify(pki / "ca.crt", pki / "admin.crt").returncode == 0


def test_each_field_names_the_flag_that_fixes_it(pki: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert run(pki, "--set", "apiserver_ips=10.96.0.1") == 3
    assert "changed: apiserver (SANs: -IP:172.17.0.87) — use --force to re-issue" in (
        capsys.readouterr().err
    )
    recipe = tmp_path / "renamed-ca.yaml"
    recipe.write_text(RECIPE.read_text().replace("CN: KUBERNETES-CA", "CN: OTHER-CA", 1))
    assert run(pki, "--recipe", str(recipe)) == 3
    err = capsys.readouterr().err
    assert "changed: ca (subject: /CN=KUBERNETES-CA -> /CN=OTHER-CA) — use --replace-ca" in err
    assert "signing CA's subject" in err  # and every leaf it signed says so too


def test_a_folder_of_the_previous_release_is_read_without_a_false_change(
    tmp_path: Path, capsys
) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    shutil.copytree(REPO / "tests" / "data" / "v1-pki", out)
    old = ["--recipe", str(REPO / "tests" / "data" / "v1-recipe.yaml")]  # what built it
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert run(out, *old) == 0
    captured = capsys.readouterr()
    assert "0 steps run" in captured.out
    assert "changed" not in captured.err
    for path, data in before.items():
        if path.name != "commands.sh":
            assert path.read_bytes() == data, path  # nothing rebuilt
    # and a real change is still seen through the migrated record
    assert run(out, *old, "--set", "apiserver_ips=10.96.0.1") == 3
    err = capsys.readouterr().err
    assert "changed: apiserver (SANs: -IP:172.17.0.87; " in err
    assert "other extensions (.cnf): not known from an older record, may differ)" in err


def test_the_dry_run_always_prints_every_command(pki: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert cli_main(["run", "all", "--dry-run", "--out", str(tmp_path / "empty"), *FAST]) == 0
    fresh = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("openssl ")]
    assert cli_main(["run", "all", "--dry-run", "--out", str(pki), *FAST]) == 0
    text = capsys.readouterr().out
    assert [ln for ln in text.splitlines() if ln.startswith("openssl ")] == fresh
    assert text.count("# run would skip it: already built\n") == text.count("# ===== step ")


# ----- real kills -----


def verifying_ca(cert_file: str) -> str:
    """The CA certificate that signed a certificate of the bundled recipe (tests/expected.py)."""
    name = cert_file.removesuffix(".crt")
    if name in CAS:
        return cert_file
    return f"{SIGNERS.get(name, 'ca')}.crt"


def killing_openssl(folder: Path, trigger: str) -> dict:
    """An environment whose `openssl` kills the run when it signs `trigger` (a CSR file)."""
    real = shutil.which("openssl")
    folder.mkdir()
    wrapper = folder / "openssl"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = {trigger} ] && kill -9 $PPID && sleep 5 && exit 1; done\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}", PYTHONPATH=str(REPO))


def run_killed(out: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "kpki_openssl", "run", "all", "--out", str(out), *FAST]
    return subprocess.run(
        [*argv, "--jobs", "1", *extra], env=env, capture_output=True, text=True, timeout=120
    )


def test_an_interrupted_replace_ca_is_finished_by_the_next_run(pki: Path, tmp_path: Path) -> None:
    old_key = (pki / "ca.key").read_bytes()
    env = killing_openssl(tmp_path / "bin", "apiserver.csr")
    killed = run_killed(pki, env, "--replace-ca")
    assert killed.returncode == -9, killed.stderr
    new_key = (pki / "ca.key").read_bytes()
    assert new_key != old_key  # the new CA was made; some leaves were not re-issued yet
    # killed again while finishing it: the new CA key is kept, not replaced a second time
    again = run_killed(pki, killing_openssl(tmp_path / "bin2", "kubelet-n1.csr"), "--replace-ca")
    assert again.returncode == -9, again.stderr
    assert (pki / "ca.key").read_bytes() == new_key
    done = run_killed(pki, dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert "finished the interrupted --replace-ca of ca" in done.stdout
    assert (pki / "ca.key").read_bytes() == new_key
    saved = sorted(p.name for p in (pki / ".kpki" / "replaced").rglob("*.key"))
    assert "ca.key" in saved and len(saved) == len(set(saved))  # each old CA saved once
    for crt in pki.glob("*.crt"):
        assert openssl_verify(pki / verifying_ca(crt.name), crt).returncode == 0, crt.name
    quiet = run_killed(pki, dict(os.environ, PYTHONPATH=str(REPO)))
    assert quiet.returncode == 0 and "0 steps run" in quiet.stdout, quiet.stderr


@pytest.mark.parametrize("trigger", ["admin.csr", "kubelet-client-n1.csr", "apiserver.csr"])
def test_a_kill_during_force_new_keys_leaves_no_false_change(
    pki: Path, tmp_path: Path, trigger: str
) -> None:
    env = killing_openssl(tmp_path / "bin", trigger)
    killed = run_killed(pki, env, "--force", "--new-keys")
    assert killed.returncode == -9, killed.stderr
    done = run_killed(pki, dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert "changed" not in done.stderr
    for crt in pki.glob("*.crt"):
        assert key_matches(load_cert(crt), crt.with_suffix(".key")), crt.name
        assert openssl_verify(pki / verifying_ca(crt.name), crt).returncode == 0, crt.name


@pytest.mark.parametrize("kind", ["dir", "fifo", "link"])
def test_something_not_a_file_where_a_certificate_belongs_is_refused(
    pki: Path, tmp_path: Path, kind: str, capsys
) -> None:
    target = pki / "admin.crt"
    target.unlink()
    outside = tmp_path / "outside.crt"
    outside.write_text("not ours\n")
    if kind == "dir":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to(outside)
    before = sorted(p.name for p in pki.iterdir())
    capsys.readouterr()
    assert run(pki) == 1  # never counted as built, never opened, never replaced
    err = capsys.readouterr().err
    what = {"dir": "a directory", "fifo": "not a file", "link": "a symbolic link"}[kind]
    assert err == (
        f"kpki-openssl: error: step admin: admin.crt is {what}, not a file; it is never used "
        "or replaced: move it away\n"
    )
    assert sorted(p.name for p in pki.iterdir()) == before
    assert outside.read_text() == "not ours\n"


def test_a_symlinked_record_folder_is_refused_and_nothing_outside_changes(
    pki: Path, tmp_path: Path, capsys
) -> None:
    outside = tmp_path / "elsewhere"
    shutil.copytree(pki / ".kpki" / "record", outside)
    shutil.rmtree(pki / ".kpki" / "record")
    (pki / ".kpki" / "record").symlink_to(outside)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    capsys.readouterr()
    assert run(pki, "--force") == 1
    err = capsys.readouterr().err
    assert err.startswith("kpki-openssl: error: ") and "record: is a symbolic link" in err
    assert err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
