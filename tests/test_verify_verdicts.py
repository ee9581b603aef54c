"""verify and check-expiration verdicts on folders that are wrong in ways a reader must not miss:
a key of another type or curve than the recipe's, a CA file with a second CA appended, files
that are not regular files (FIFO, directory, dangling link), no openssl on PATH. Real files and
real openssl; the shown commands are run by bash and must agree with each verdict."""

from __future__ import annotations

import contextlib
import copy
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
        "certificates, not only the CA: whoever trusts this file trusts every one of them"
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


# ----- kubeconfigs: every cluster, user and context; TLS on; the certificate the credential -----


def _edit_kubeconfig(built_pki: Path, tmp_path: Path, edit) -> Path:
    """A copy of the PKI whose admin.kubeconfig `edit(config)` changed (in place)."""
    import yaml

    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    config = yaml.safe_load((pki / "admin.kubeconfig").read_text())
    edit(config)
    (pki / "admin.kubeconfig").write_text(yaml.safe_dump(config))
    return pki


def _token_and_no_tls(config: dict) -> None:
    cluster = config["clusters"][0]["cluster"]
    cluster.pop("certificate-authority", None)
    cluster["insecure-skip-tls-verify"] = True
    config["users"][0]["user"] = {"token": "stranger"}


def _foreign_current_cluster(foreign: Path):
    def edit(config: dict) -> None:
        user = config["users"][0]["name"]
        config["clusters"].append(
            {
                "name": "elsewhere",
                "cluster": {
                    "server": "https://kube-apiserver:6443",
                    "certificate-authority": str(foreign / "ca.crt"),
                },
            }
        )
        config["contexts"].append(
            {"name": "there", "context": {"cluster": "elsewhere", "user": user}}
        )
        config["current-context"] = "there"

    return edit


def _second_user_with_exec(config: dict) -> None:
    config["users"].append(
        {"name": "ghost", "user": {"exec": {"command": "sh", "apiVersion": "v1"}}}
    )
    cluster = config["clusters"][0]["name"]
    config["contexts"].append({"name": "ghost", "context": {"cluster": cluster, "user": "ghost"}})


def _dangling(config: dict) -> None:
    config["contexts"].append({"name": "x", "context": {"cluster": "nowhere", "user": "nobody"}})
    config["current-context"] = "missing"
    config["users"].append(copy.deepcopy(config["users"][0]))


STRANGERS = {
    "token and TLS off": (
        _token_and_no_tls,
        {
            ("tls", "clusters[kubernetes]: insecure-skip-tls-verify"),
            ("ca", "clusters[kubernetes]: no certificate-authority"),
            ("credential", "users[{user}]: token: a credential other than"),
            ("client-certificate", "users[{user}] has no client certificate"),
        },
    ),
    "current-context on a foreign CA's cluster": (
        None,  # filled in the test: needs the foreign PKI's path
        {("ca", "clusters[elsewhere].certificate-authority: not the folder's CA")},
    ),
    "a second user with exec": (
        _second_user_with_exec,
        {
            ("credential", "users[ghost]: exec: a credential other than"),
            ("client-certificate", "users[ghost] has no client certificate"),
        },
    ),
    "dangling names": (
        _dangling,
        {
            ("names", "users[{user}] is named twice"),
            ("context", "contexts[x]: cluster 'nowhere' is not in the file"),
            ("current-context", "current-context 'missing' names no context"),
        },
    ),
}


@pytest.mark.parametrize("case", STRANGERS)
def test_a_kubeconfig_that_lets_a_stranger_in_fails(
    built_pki: Path, foreign_pki: Path, tmp_path: Path, case: str
) -> None:
    """Each way kubectl could talk to a server no CA of ours vouches for, or authenticate with
    something other than our client certificate, is a problem of its own; the shown commands
    for TLS, the credential and current-context agree with each verdict under bash."""
    need_program("bash")
    need_program("kubectl")
    edit, wanted = STRANGERS[case]
    pki = _edit_kubeconfig(built_pki, tmp_path, edit or _foreign_current_cluster(foreign_pki))
    code, found = checks("--out", str(pki))
    assert code == 1
    failed = {(c["check"], c["problem"]) for c in found if not c["ok"]}
    assert all(c["file"] == "admin.kubeconfig" for c in found if not c["ok"]), failed
    import yaml

    user = yaml.safe_load((built_pki / "admin.kubeconfig").read_text())["users"][0]["name"]
    for check, start in wanted:
        start = start.format(user=user)
        assert any(k == check and p.startswith(start) for k, p in failed), (check, failed)
    assert len(failed) == len(wanted), failed
    assert bash_agrees(pki, found, {"tls", "credential", "current-context"}) >= 3
    code, out, _err = cli("verify", "--out", str(pki), "--quiet")
    assert code == 1 and len(out.splitlines()) == len(wanted), out


APPENDED = {
    "TRUSTED CERTIFICATE": lambda pem: pem.replace(
        b"CERTIFICATE-----", b"TRUSTED CERTIFICATE-----"
    ),
    "X509 CERTIFICATE": lambda pem: pem.replace(b"CERTIFICATE-----", b"X509 CERTIFICATE-----"),
    "DER": lambda pem: __import__("ssl").PEM_cert_to_DER_cert(pem.decode()),
    "text and a blank line": lambda pem: b"\nsee also: the other CA\n",
}


@pytest.mark.parametrize("form", APPENDED)
def test_a_foreign_ca_appended_in_any_form_fails_ca_only(
    built_pki: Path, foreign_pki: Path, tmp_path: Path, form: str
) -> None:
    """openssl (and curl) read TRUSTED and X509 CERTIFICATE blocks as certificates; whatever is
    in a CA file besides its one certificate fails ca-only, and check-expiration names it."""
    need_program("bash")
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    with open(pki / "ca.crt", "ab") as ca:
        ca.write(APPENDED[form]((foreign_pki / "ca.crt").read_bytes()))
    code, out, _err = cli("verify", "--out", str(pki), "--quiet")
    assert code == 1
    assert [line.split(": ")[:2] for line in out.splitlines()] == [["ca.crt", "ca-only"]], out
    _code, found = checks("--out", str(pki))
    assert bash_agrees(pki, found, {"ca-only"}) == len(CAS)
    code, _out, err = cli("check-expiration", "--out", str(pki), "--quiet")
    assert code == 1 and err.startswith("ca.crt: cannot be read: holds "), err


def test_an_embedded_ca_with_a_trusted_certificate_appended(
    built_pki: Path, foreign_pki: Path, tmp_path: Path
) -> None:
    import base64

    need_program("bash")
    need_program("kubectl")
    foreign = APPENDED["TRUSTED CERTIFICATE"]((foreign_pki / "ca.crt").read_bytes())

    def edit(config: dict) -> None:
        cluster = config["clusters"][0]["cluster"]
        data = (built_pki / "ca.crt").read_bytes() + foreign
        cluster.pop("certificate-authority", None)
        cluster["certificate-authority-data"] = base64.b64encode(data).decode()

    pki = _edit_kubeconfig(built_pki, tmp_path, edit)
    code, found = checks("--out", str(pki))
    assert code == 1
    failed = [c for c in found if not c["ok"]]
    assert [(c["file"], c["check"]) for c in failed] == [("admin.kubeconfig", "ca-only")]
    assert "'TRUSTED CERTIFICATE' PEM block" in failed[0]["problem"]
    assert bash_agrees(pki, found, {"ca-only"}) == len(CAS) + 1


def test_check_expiration_does_not_call_a_not_yet_valid_certificate_healthy(
    built_pki: Path, tmp_path: Path
) -> None:
    """A certificate whose notBefore is tomorrow is no more usable than an expired one."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    need_program("openssl")
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "later")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now + datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=300))
        .sign(ca_key, hashes.SHA256())
    )
    (pki / "later.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # openssl itself: -checkend 0 passes (it is not expired), yet verify refuses it now
    done = subprocess.run(
        ["openssl", "verify", "-no-CApath", "-no-CAstore", "-CAfile", "ca.crt", "later.crt"],
        cwd=pki,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    code, out, _err = cli("check-expiration", "--out", str(pki), "--json", "--quiet")
    row = next(r for r in json.loads(out)["certificates"] if r["name"] == "later")
    assert row["not_yet_valid"] and row["residual"] == "<not yet valid>" and not row["expired"]
    code, out, _err = cli("check-expiration", "--out", str(pki), "--quiet")
    assert code == 0 and any(
        line.split()[:1] == ["later"] and "<not yet valid>" in line for line in out.splitlines()
    ), out
    code, _out, err = cli("check-expiration", "--out", str(pki), "--warn-days", "0", "--quiet")
    assert code == 1
    lines = err.splitlines()  # the one certificate, then the command that renews it
    assert len(lines) == 2 and lines[0].startswith("later.crt: not valid "), err
    assert lines[1].startswith("renew them with: kpki-openssl renew later "), err
