"""verify, check-expiration and inspect on a real PKI, damaged one way at a time.

Each test copies the session's PKI (built once, never modified), breaks one thing with real
openssl (or the cryptography oracle, for an already-expired certificate) and asserts the tool
names the file and the fault. Facts are checked against cryptography, not our own reading.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.conftest import need_program, openssl_writes_v1, run_cli
from tests.expected import APISERVER_DNS, APISERVER_IPS, CAS, LEAVES, SIGNERS
from tests.oracle import load_cert


@pytest.fixture
def pki(built_pki: Path, tmp_path: Path) -> Path:
    """A private copy of the session PKI, to damage."""
    out = tmp_path / "pki"
    shutil.copytree(built_pki, out)
    return out


def openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def verify(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("verify", "--out", str(folder), *extra)


def problems(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def kubeconfig(user_cert: bytes, user_key: bytes, ca: bytes, server: str) -> str:
    """A kubeconfig with embedded credentials, as kubectl writes them."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: k\n  cluster:\n    server: {server}\n"
        f"    certificate-authority-data: {b64(ca)}\n"
        "contexts:\n- name: u@k\n  context: {cluster: k, user: u}\ncurrent-context: u@k\n"
        f"users:\n- name: u\n  user:\n    client-certificate-data: {b64(user_cert)}\n"
        f"    client-key-data: {b64(user_key)}\n"
    )


def kubeconfigs(folder: Path) -> list[str]:
    """Kubeconfig files in the folder, found by name (ours, and kubeadm's .conf)."""
    return [
        p.relative_to(folder).as_posix()
        for p in [*folder.rglob("*.kubeconfig"), *folder.rglob("*.conf")]
    ]


def only_blames(pki: Path, lines: list[str], *files: str) -> None:
    """Every problem names one of `files`, or a kubeconfig that holds them."""
    assert {ln.split(":")[0] for ln in lines} <= {*files, *kubeconfigs(pki)}, lines


def kubeconfig_client_cert(path: Path) -> x509.Certificate:
    """The (first) user's client certificate, read with yaml + cryptography."""
    import yaml

    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    if "client-certificate-data" in user:
        return x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    named = Path(user["client-certificate"])
    if named.is_absolute() and not named.exists():  # the path it will have on its host
        named = Path(named.name)
    return load_cert(path.parent / named)


def test_clean_pki_verifies(built_pki: Path) -> None:
    done = verify(built_pki)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("all pass")
    assert f"{len(LEAVES) + len(CAS)} certificates" in done.stdout
    configs = kubeconfigs(built_pki)
    assert configs and f"{len(configs)} kubeconfigs" in done.stdout  # the recipe's own


def test_swapped_keys_are_named(pki: Path) -> None:
    (pki / "admin.key").rename(pki / "swap")
    (pki / "kube-proxy.key").rename(pki / "admin.key")
    (pki / "swap").rename(pki / "kube-proxy.key")
    lines = problems(verify(pki))
    assert "admin.key: key-match: does not match admin.crt (a different public key)" in lines
    assert (
        "kube-proxy.key: key-match: does not match kube-proxy.crt (a different public key)" in lines
    )
    # the kubeconfigs that name these keys are blamed too, and nothing else
    blamed = {ln.split(":")[0] for ln in lines} - {"admin.key", "kube-proxy.key"}
    assert blamed == {"admin.kubeconfig", "kube-proxy.kubeconfig"}, lines
    assert any(ln.startswith("admin.kubeconfig: key-match: ") for ln in lines)
    assert any(ln.startswith("kube-proxy.kubeconfig: key-match: ") for ln in lines)


def test_certificate_resigned_by_a_foreign_ca(pki: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    openssl(other, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "o.key",
            "-out", "o.crt", "-subj", "/CN=OTHER-CA", "-days", "10",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl(pki, "x509", "-req", "-in", "admin.csr", "-CA", str(other / "o.crt"),
            "-CAkey", str(other / "o.key"), "-days", "5", "-extfile", "admin.cnf",
            "-extensions", "v3_req", "-out", "admin.crt")  # fmt: skip
    lines = problems(verify(pki))
    # then openssl's reason, in its words
    assert any(ln.startswith("admin.crt: chain: does not verify against ca.crt: ") for ln in lines)
    only_blames(pki, lines, "admin.crt")


def test_apiserver_resigned_without_sans(pki: Path) -> None:
    openssl(pki, "x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-days", "365", "-out", "apiserver.crt")  # fmt: skip
    lines = problems(verify(pki))
    sans = [ln for ln in lines if ln.startswith("apiserver.crt: subjectAltName: missing ")]
    assert len(sans) == 1
    for name in APISERVER_DNS:
        assert f"DNS:{name}" in sans[0]
    for ip in APISERVER_IPS:
        assert f"IP:{ip}" in sans[0]
    only_blames(pki, lines, "apiserver.crt")
    for config in kubeconfigs(pki):  # the generated kubeconfigs dial a host no longer covered
        assert any(ln.startswith(f"{config}: server-host: ") for ln in lines), config


def test_key_readable_by_others(pki: Path) -> None:
    (pki / "etcdserver.key").chmod(0o644)
    lines = problems(verify(pki))
    assert lines == ["etcdserver.key: key-mode: mode 0644: readable by group or others (want 0600)"]


def test_expired_certificate(pki: Path) -> None:
    """Re-issued by the real CA key, valid until yesterday (cryptography builds the dates)."""
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca = load_cert(pki / "ca.crt")
    old = load_cert(pki / "kube-proxy.crt")
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.subject)
        .public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
    )
    for ext in old.extensions:  # the same extensions, AKI included (same CA)
        builder = builder.add_extension(ext.value, ext.critical)
    expired = builder.sign(ca_key, hashes.SHA256())
    (pki / "kube-proxy.crt").write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    lines = problems(verify(pki))
    assert any(ln.startswith("kube-proxy.crt: expiry: expired on ") for ln in lines)
    assert "kube-proxy.crt: chain: does not verify against ca.crt: certificate has expired" in lines
    only_blames(pki, lines, "kube-proxy.crt")
    warned = run_cli("check-expiration", "--out", str(pki), "--warn-days", "30")
    assert warned.returncode == 1
    assert "kube-proxy.crt: expires" in warned.stderr


def test_expires_in_one_day_warns(pki: Path) -> None:
    openssl(pki, "x509", "-req", "-in", "admin.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-days", "1", "-extfile", "admin.cnf", "-extensions", "v3_req",
            "-out", "admin.crt")  # fmt: skip
    assert verify(pki).returncode == 0  # still valid today
    assert run_cli("check-expiration", "--out", str(pki)).returncode == 0
    done = run_cli("check-expiration", "--out", str(pki), "--warn-days", "30")
    assert done.returncode == 1
    *warned, renew = done.stderr.splitlines()
    assert [ln for ln in warned if ln.startswith("admin.crt: expires")] == warned[:1]
    only_blames(pki, warned, "admin.crt")  # and the kubeconfigs that hold admin.crt
    # the last line is the command that renews it, and that command does
    assert renew.startswith(f"renew them with: kpki-openssl renew admin --out {pki}")
    command = renew.split(": ", 1)[1].split(" (")[0].split()[1:]
    assert run_cli(*command, "--quiet").returncode == 0
    assert run_cli("check-expiration", "--out", str(pki), "--warn-days", "30").returncode == 0
    assert run_cli("check-expiration", "--out", str(pki), "--warn-days", "0").returncode == 0


def test_leaf_outliving_its_ca(pki: Path) -> None:
    openssl(pki, "x509", "-req", "-in", "etcdpeer1.csr", "-CA", "etcd-ca.crt",
            "-CAkey", "etcd-ca.key", "-days", "5000", "-extfile", "etcdpeer1.cnf",
            "-extensions", "v3_req", "-out", "etcdpeer1.crt")  # fmt: skip
    lines = problems(verify(pki))
    assert lines[0].startswith("etcdpeer1.crt: within-ca: expires ")
    assert "after its CA etcd-ca.crt" in lines[0]
    only_blames(pki, lines, "etcdpeer1.crt")


def test_kubeconfig_with_embedded_cert_of_another_key(pki: Path) -> None:
    ca = (pki / "ca.crt").read_bytes()
    good = kubeconfig((pki / "admin.crt").read_bytes(), (pki / "admin.key").read_bytes(), ca,
                      "https://10.96.0.1:6443")  # fmt: skip
    (pki / "mine.kubeconfig").write_text(good)
    (pki / "mine.kubeconfig").chmod(0o644)
    assert problems(verify(pki)) == [
        "mine.kubeconfig: key-mode: mode 0644 with an embedded private key (want 0600)"
    ]
    (pki / "mine.kubeconfig").chmod(0o600)
    done = verify(pki)
    assert done.returncode == 0, done.stdout
    assert f"{len(kubeconfigs(pki))} kubeconfigs" in done.stdout
    bad = kubeconfig((pki / "admin.crt").read_bytes(), (pki / "kube-proxy.key").read_bytes(), ca,
                     "https://10.96.0.1:6443")  # fmt: skip
    (pki / "mine.kubeconfig").write_text(bad)
    assert problems(verify(pki)) == [
        "mine.kubeconfig: key-match: users[u].client-key-data does not match "
        "users[u].client-certificate-data (a different public key)"
    ]


def test_kubeconfig_host_outside_apiserver_sans_and_referenced_files(pki: Path) -> None:
    (pki / "sub").mkdir()
    (pki / "sub" / "proxy.kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: k\n  cluster:\n    server: https://apiserver.invalid:6443\n"
        "    certificate-authority: ../ca.crt\n"
        "contexts:\n- name: p\n  context: {cluster: k, user: p}\ncurrent-context: p\n"
        "users:\n- name: p\n  user:\n    client-certificate: ../kube-proxy.crt\n"
        "    client-key: ../admin.key\n"
    )
    lines = problems(verify(pki))
    assert len(lines) == 2
    assert lines[0].startswith(
        "sub/proxy.kubeconfig: server-host: clusters[k]: server https://apiserver.invalid:6443: host "
        "apiserver.invalid is not in apiserver.crt's SANs (kubernetes,"
    )
    assert lines[1] == (
        "sub/proxy.kubeconfig: key-match: users[p].client-key does not match "
        "users[p].client-certificate (a different public key)"
    )


def test_shown_commands_perform_the_checks(pki: Path) -> None:
    """The openssl commands --show-commands prints, run by bash, pass and fail with the check."""
    need_program("bash")
    (pki / "admin.key").rename(pki / "swap")
    (pki / "kube-proxy.key").rename(pki / "admin.key")
    (pki / "swap").rename(pki / "kube-proxy.key")
    done = run_cli("verify", "--out", str(pki), "--json")
    assert done.returncode == 1
    checks = json.loads(done.stdout)["checks"]
    assert all(c["command"] for c in checks)
    tried: list[bool] = []
    for check in checks:
        if check["check"] in ("chain", "key-match") and check["file"] in (
            "admin.key", "kube-proxy.key", "kubelet-node01.key", "apiserver.crt"
        ):  # fmt: skip
            ran = subprocess.run(
                ["bash", "-c", check["command"]], cwd=pki, capture_output=True, timeout=60
            )
            assert (ran.returncode == 0) == check["ok"], check
            tried.append(check["ok"])
    assert sorted(tried) == [False, False, True, True]  # two swapped keys fail, two good pass


def test_verify_json_shape(built_pki: Path) -> None:
    done = run_cli("verify", "--out", str(built_pki), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] is True and doc["recipe"] == "kubernetes"
    assert doc["counts"]["certificates"] == len(LEAVES) + len(CAS)
    assert doc["counts"]["problems"] == 0 and doc["counts"]["checks"] == len(doc["checks"])
    assert set(doc["checks"][0]) == {"file", "check", "ok", "problem", "command"}
    kinds = {c["check"] for c in doc["checks"]}
    assert {"chain", "key-match", "key-mode", "subject", "subjectAltName", "keyUsage",
            "extendedKeyUsage", "basicConstraints", "expiry", "within-ca"} <= kinds  # fmt: skip


def test_check_expiration_json_lists_every_certificate(pki: Path) -> None:
    ca = (pki / "ca.crt").read_bytes()
    (pki / "mine.kubeconfig").write_text(
        kubeconfig(
            (pki / "admin.crt").read_bytes(),
            (pki / "admin.key").read_bytes(),
            ca,
            "https://kubernetes:6443",
        )  # fmt: skip
    )
    done = run_cli("check-expiration", "--out", str(pki), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert sorted(c["name"] for c in doc["certificate_authorities"]) == sorted(CAS)
    names = [c["name"] for c in doc["certificates"]]
    # each certificate once: a kubeconfig that names a file of the folder is not listed again
    assert sorted(names) == sorted([*LEAVES, "mine.kubeconfig"])
    for item in doc["certificate_authorities"] + doc["certificates"]:
        if item["source"] == "file":
            cert = load_cert(pki / item["file"])
        else:
            cert = kubeconfig_client_cert(pki / item["file"])
        expected = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item["expires"] == expected, item
        assert item["expired"] is False and item["residual_days"] >= 364 - 1
    for c in doc["certificates"]:
        base = c["name"] if c["source"] == "file" else "admin"  # kubeconfigs: cluster-CA clients
        assert c["certificate_authority"] == SIGNERS.get(base, "ca"), c
    table = run_cli("check-expiration", "--out", str(pki))
    assert table.stdout.splitlines()[0].split() == [
        "CERTIFICATE", "EXPIRES", "RESIDUAL", "TIME", "CERTIFICATE", "AUTHORITY"
    ]  # fmt: skip
    assert "\x1b[" not in table.stdout


def test_inspect_matches_the_oracle(built_pki: Path) -> None:
    done = run_cli("inspect", "apiserver", "--out", str(built_pki), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    cert = load_cert(built_pki / "apiserver.crt")
    assert doc["fingerprint_sha256"] == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert doc["serial"] == format(cert.serial_number, "X").rjust(len(doc["serial"]), "0")
    assert doc["dns"] == APISERVER_DNS and doc["ips"] == APISERVER_IPS
    assert doc["subject"] == "/CN=kube-apiserver" and doc["key_bits"] == 2048
    assert doc["extended_key_usage"] == ["serverAuth"] and doc["is_ca"] is False
    assert doc["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert doc["command"].startswith("openssl x509 -in apiserver.crt -noout -text")
    text = run_cli("inspect", str(built_pki / "admin.csr"))
    assert text.returncode == 0
    assert (
        "/CN=kube-admin/O=system:masters" in text.stdout
        and "openssl req -in admin.csr" in text.stdout
    )
    missing = run_cli("inspect", "nope", "--out", str(built_pki))
    assert (
        missing.returncode == 2 and missing.stderr.count("\n") == 1 and "'nope'" in missing.stderr
    )


def test_verify_missing_folder_and_missing_files(tmp_path: Path, pki: Path) -> None:
    for command in ("verify", "check-expiration"):
        done = run_cli(command, "--out", str(tmp_path / "nothing"))
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "nothing" in done.stderr
        assert not (tmp_path / "nothing").exists()
    (pki / "kube-proxy.crt").unlink()
    assert problems(verify(pki))[0] == "kube-proxy.crt: exists: missing"


def test_the_documents_pki_fails_verify(tmp_path: Path) -> None:
    """The as-written recipe, run for real: openssl req stops at the document's openssl.cnf, and
    verify finds the CA that is not a CA (openssl verify -x509_strict: invalid CA certificate)."""
    out = tmp_path / "doc"
    args = ("--recipe", "as-written", "--out", str(out), "--set", "key_size=1024")
    ran = run_cli("run", "all", "--quiet", *args)
    assert ran.returncode == 1 and "-config openssl.cnf" in ran.stderr  # the command that failed
    lines = problems(run_cli("verify", *args))
    # the CA itself fails when it is v1 (OpenSSL 3.0 and 3.1); the v3 CA of 3.2+ verifies as
    # its own trust anchor, and only what it signed fails
    ca_line = "ca.crt: chain: does not verify against ca.crt: invalid CA certificate"
    assert (ca_line in lines) is openssl_writes_v1()
    assert "admin.crt: chain: does not verify against ca.crt: invalid CA certificate" in lines
    assert "apiserver.crt: exists: missing" in lines
    # 30 days, as openssl's default gives: check-expiration --warn-days 30 says so
    warned = run_cli("check-expiration", "--out", str(out), "--warn-days", "30")
    assert warned.returncode == 1 and "ca.crt: expires" in warned.stderr


def test_generated_embedded_kubeconfig_with_another_key(tmp_path: Path) -> None:
    """The recipe's own kubeconfigs in the embedded form; then admin's key data replaced."""
    import yaml

    need_program("kubectl")
    out = tmp_path / "pki"
    args = ("--out", str(out), "--set", "embed_certs=yes", "--set", "key_size=1024")
    assert run_cli("run", "all", "--quiet", *args).returncode == 0
    clean = run_cli("verify", *args)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    config = yaml.safe_load((out / "admin.kubeconfig").read_text())
    assert "client-key-data" in config["users"][0]["user"]  # embedded, as generated
    config["users"][0]["user"]["client-key-data"] = base64.b64encode(
        (out / "kube-proxy.key").read_bytes()
    ).decode()
    (out / "admin.kubeconfig").write_text(yaml.safe_dump(config))
    (out / "admin.kubeconfig").chmod(0o600)
    done = run_cli("verify", *args, "--json")
    bad = [c for c in json.loads(done.stdout)["checks"] if not c["ok"]]
    assert done.returncode == 1 and [(c["file"], c["check"]) for c in bad] == [
        ("admin.kubeconfig", "key-match")
    ]
    assert "client-key-data does not match" in bad[0]["problem"]
    shown = subprocess.run(
        ["bash", "-c", bad[0]["command"]], cwd=out, capture_output=True, timeout=60
    )
    assert shown.returncode == 1 and shown.stdout  # diff shows the two public keys differ


def test_the_tools_own_folder_is_not_part_of_the_pki(pki: Path, tmp_path: Path) -> None:
    """An old CA kept by --replace-ca and a staging leftover of a killed run live in .kpki/:
    check-expiration listed the old CA as a second 'ca', verify blamed the leftover kubeconfig."""
    old = pki / ".kpki" / "replaced" / "20260101T000000Z"
    old.mkdir(parents=True)
    openssl(old, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-subj", "/CN=OLD-CA", "-days", "10",
            "-addext", "basicConstraints=critical,CA:TRUE")  # fmt: skip
    stage = pki / ".kpki" / "stage" / "admin.kubeconfig.4242"
    stage.mkdir(parents=True)
    shutil.copy(pki / "admin.kubeconfig", stage / "admin.kubeconfig")
    done = run_cli("check-expiration", "--out", str(pki), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert sorted(c["file"] for c in doc["certificate_authorities"]) == [
        f"{ca}.crt" for ca in sorted(CAS)
    ]
    assert not any(c["file"].startswith(".kpki") for c in doc["certificates"])
    checked = verify(pki)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(kubeconfigs(pki)) - 1} kubeconfigs" in checked.stdout  # not the leftover
