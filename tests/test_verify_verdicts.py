"""verify and check-expiration verdicts on folders that are wrong in ways a reader must not miss:
a key of another type or curve than the recipe's, a CA file with a second CA appended, files
that are not regular files (FIFO, directory, dangling link), no openssl on PATH. Real files and
real openssl; the shown commands are run by bash and must agree with each verdict."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from kpki_openssl.base import trust_store_setting
from kpki_openssl.cli import main as cli_main
from tests.conftest import need_program
from tests.expected import CAS, LEAVES


def cli(*argv: str, timeout: float = 60) -> tuple[int, str, str]:
    """The command line in-process, with a timeout: a read that blocks fails the test."""
    out, err, result = io.StringIO(), io.StringIO(), []

    def call() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result.append(cli_main(list(argv)))

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(timeout)
    assert result, f"{argv} did not finish within {timeout} s"
    return result[0], out.getvalue(), err.getvalue()


def checks(*argv: str) -> tuple[int, list[dict]]:
    code, out, _err = cli("verify", "--json", "--quiet", *argv)
    return code, json.loads(out)["checks"]


def bash_agrees(folder: Path, found: list[dict], kinds: set[str]) -> int:
    """Each shown command of these kinds, run by bash in the folder, exits 0 exactly when its
    check passed; returns how many were run."""
    ran = 0
    for check in (c for c in found if c["check"] in kinds):
        done = subprocess.run(
            ["bash", "-c", check["command"]], cwd=folder, capture_output=True, timeout=60
        )
        assert (done.returncode == 0) == check["ok"], check
        ran += 1
    return ran


@pytest.fixture(scope="module")
def p256(tmp_path_factory) -> Path:
    """`run ca admin` with ECDSA P-256 keys (read-only for tests)."""
    need_program("openssl")
    out = tmp_path_factory.mktemp("p256") / "pki"
    argv = ["run", "ca", "admin", "--quiet", "--out", str(out), "--set", "key_type=ecdsa"]
    assert cli(*argv)[0] == 0
    return out


def test_a_key_of_another_curve_is_named(p256: Path) -> None:
    need_program("bash")
    code, found = checks(
        "--out", str(p256), "--set", "key_type=ecdsa", "--set", "ecdsa_curve=P-384"
    )
    assert code == 1
    wrong = {c["file"]: c["problem"] for c in found if c["check"] == "key-type" and not c["ok"]}
    assert wrong == {f: "expected ecdsa P-384, found ecdsa P-256" for f in ("ca.key", "admin.key")}
    assert bash_agrees(p256, found, {"key-type", "key-match", "chain"}) >= 6
    _code, right = checks("--out", str(p256), "--set", "key_type=ecdsa")
    assert [c["ok"] for c in right if c["check"] == "key-type"] == [True, True]
    assert bash_agrees(p256, right, {"key-type"}) == 2


def test_an_rsa_key_where_ecdsa_is_asked(built_pki: Path) -> None:
    code, found = checks("--out", str(built_pki), "--set", "key_type=ecdsa")
    assert code == 1
    wrong = [c for c in found if c["check"] == "key-type" and not c["ok"]]
    assert wrong and all(c["problem"] == "expected ecdsa P-256, found rsa 2048" for c in wrong)
    assert {c["file"] for c in wrong} >= {"ca.key", "admin.key", "apiserver.key"}


def test_a_ca_file_with_another_ca_appended(
    built_pki: Path, foreign_pki: Path, tmp_path: Path
) -> None:
    need_program("bash")
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    with open(pki / "ca.crt", "ab") as ca:
        ca.write((foreign_pki / "ca.crt").read_bytes())
    code, out, _err = cli("verify", "--out", str(pki), "--quiet")
    assert code == 1
    assert out.splitlines() == [
        "ca.crt: ca-only: holds 2 certificates, not only the CA: whoever trusts this file "
        "trusts every one of them"
    ]
    _code, found = checks("--out", str(pki))
    assert bash_agrees(pki, found, {"ca-only"}) == len(CAS)  # one check per CA file
    _code, clean = checks("--out", str(built_pki))
    assert bash_agrees(built_pki, clean, {"ca-only"}) == len(CAS)


def test_a_kubeconfig_ca_with_another_ca_appended(
    built_pki: Path, foreign_pki: Path, tmp_path: Path
) -> None:
    import base64

    import yaml

    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    both = (pki / "ca.crt").read_bytes() + (foreign_pki / "ca.crt").read_bytes()
    config = yaml.safe_load((pki / "admin.kubeconfig").read_text())
    cluster = config["clusters"][0]["cluster"]
    cluster.pop("certificate-authority", None)
    cluster["certificate-authority-data"] = base64.b64encode(both).decode()
    (pki / "admin.kubeconfig").write_text(yaml.safe_dump(config))
    code, out, _err = cli("verify", "--out", str(pki), "--quiet")
    assert code == 1
    name = config["clusters"][0]["name"]
    assert out.splitlines() == [
        f"admin.kubeconfig: ca-only: clusters[{name}].certificate-authority-data: holds 2 "
        "certificates, not only the CA"
    ]


def test_fifo_and_directory_named_like_certificates(p256: Path, tmp_path: Path) -> None:
    """Nothing blocks on a FIFO (each call under a timeout); both are named, exit 1."""
    pki = tmp_path / "pki"
    shutil.copytree(p256, pki)
    (pki / "admin.crt").unlink()
    os.mkfifo(pki / "admin.crt")
    (pki / "admin.key").unlink()
    (pki / "admin.key").mkdir()
    code, out, _err = cli("verify", "--out", str(pki), "--set", "key_type=ecdsa", "--quiet")
    assert code == 1
    assert "admin.crt: readable: not a certificate: a FIFO, not a regular file" in out
    assert "admin.key: readable: a directory, not a regular file" in out
    code, _out, err = cli("check-expiration", "--out", str(pki), "--quiet")
    assert code == 1 and "admin.crt: cannot be read: a FIFO, not a regular file" in err
    code, _out, err = cli("inspect", str(pki / "admin.crt"))
    assert code == 2 and "a FIFO, not a file" in err


def test_check_expiration_exits_1_on_what_it_cannot_read(tmp_path: Path) -> None:
    """--warn-days used to print empty tables and exit 0 here."""
    folder = tmp_path / "pki"
    folder.mkdir()
    (folder / "junk.crt").write_text("not a certificate\n")
    (folder / "gone.crt").symlink_to(folder / "nowhere.crt")
    code, _out, err = cli("check-expiration", "--out", str(folder), "--warn-days", "30", "-q")
    assert code == 1
    assert "junk.crt: cannot be read: no PEM certificate in it" in err
    assert "gone.crt: cannot be read: cannot open: No such file or directory" in err
    (folder / "junk.crt").unlink()
    (folder / "gone.crt").unlink()
    code, _out, err = cli("check-expiration", "--out", str(folder), "--warn-days", "30", "-q")
    assert code == 1 and "no certificate found" in err
    code, _out, err = cli("check-expiration", "--out", str(tmp_path / "none"), "--warn-days", "3")
    assert code == 2 and "is not a folder" in err


def test_without_openssl_verify_says_so_once(
    built_pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading is in-process, so every other check still runs; the chain check cannot."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, out, _err = cli("verify", "--out", str(built_pki), "--quiet")
    assert code == 1
    assert out.splitlines() == [
        "openssl: chain: openssl cannot run: not found on PATH: no chain was checked"
    ]
    code, _out, err = cli("check-expiration", "--out", str(built_pki), "--quiet")
    assert code == 0, err


def test_in_process_reading_equals_what_openssl_prints(built_pki: Path, p256: Path) -> None:
    """Every field the checks use, read with cryptography, is what `openssl x509 -text` prints
    for the same file (RSA and ECDSA keys, CA and leaves)."""
    from kpki_openssl.checks import certinfo
    from tests import openssl_text

    env = {**os.environ, **trust_store_setting.ENV}  # 4x faster; the same output (test_trust_store)
    files = [*sorted(built_pki.glob("*.crt")), *sorted(p256.glob("*.crt"))]
    for path in files:
        argv = openssl_text.x509_read_argv(path.name)
        done = subprocess.run(
            argv, cwd=path.parent, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        by_openssl = openssl_text.parse(done.stdout)
        in_process = certinfo.read(path)
        assert in_process.key_curve == ("P-256" if path.parent == p256 else "")
        assert in_process == dataclasses.replace(by_openssl, key_curve=in_process.key_curve), path
    assert len(files) == len(CAS) + len(LEAVES) + 2
