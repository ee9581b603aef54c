"""Every key type (key_type=rsa|ecdsa|ed25519, ecdsa_curve=P-256|P-384) gives certificates that
`openssl verify -x509_strict`, `cryptography`, real etcd + etcdctl, real kubectl and Python's
ssl accept. Each PKI is built once per module, small (one node) so the suite stays fast."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from tests.conftest import need_program, run_cli
from tests.expected import SIGNERS
from tests.oracle import load_cert, openssl_verify
from tests.processes import LOOPBACK, Processes, free_ports, port_open, single_etcd, wait_for

KINDS = {
    "rsa": ("--set", "key_type=rsa"),
    "ecdsa-p256": ("--set", "key_type=ecdsa"),
    "ecdsa-p384": ("--set", "key_type=ecdsa", "--set", "ecdsa_curve=P-384"),
    # kube-apiserver takes no Ed25519 service-account key: the recipe refuses key_type=ed25519
    # unless the sa pair gets its own type
    "ed25519": ("--set", "key_type=ed25519", "--set", "sa_key_type=ecdsa"),
}
SMALL = ("--set", "nodes=n1")


def _key_kind(cert) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}[key.curve.name]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return type(key).__name__


@pytest.fixture(scope="module", params=sorted(KINDS))
def typed_pki(request, tmp_path_factory) -> tuple[str, Path]:
    need_program("openssl")
    kind = request.param
    out = tmp_path_factory.mktemp(kind) / "pki"
    done = run_cli("run", "all", "-q", "--out", str(out), *SMALL, *KINDS[kind])
    assert done.returncode == 0, done.stderr
    return kind, out


def test_every_certificate_has_the_key_type_and_verifies(typed_pki) -> None:
    kind, out = typed_pki
    certs = sorted(out.glob("*.crt"))
    # 3 CAs, 7 single leaves, 2 for the node, etcd, 1 peer, apiserver
    assert len(certs) == 15
    for path in certs:
        cert = load_cert(path)
        assert _key_kind(cert) == kind, path.name
        signer = (
            SIGNERS.get(path.stem, "ca")
            if path.stem not in ("etcd-ca", "front-proxy-ca")
            else path.stem
        )
        verified = openssl_verify(out / f"{signer}.crt", path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        key = path.with_suffix(".key")
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, one block
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    leaf = load_cert(out / "apiserver.crt").extensions
    usage = leaf.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    assert usage.digital_signature
    assert usage.key_encipherment == (kind == "rsa")  # RSA key transport only for RSA keys


def test_dry_run_shows_the_standard_key_command() -> None:
    expected = {
        "rsa": "openssl genrsa -out ca.key 2048",
        "ecdsa-p256": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key",
        "ecdsa-p384": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ca.key",
        "ed25519": "openssl genpkey -algorithm ED25519 -out ca.key",
    }
    for kind, line in expected.items():
        done = run_cli("run", "ca", "--dry-run", *KINDS[kind])
        assert done.returncode == 0, done.stderr
        assert line in done.stdout.splitlines(), kind


@pytest.mark.parametrize(
    "setting, needle",
    [("key_type=dsa", "key_type: 'dsa'"), ("ecdsa_curve=P-521", "ecdsa_curve: 'P-521'")],
)
def test_unknown_key_type_or_curve_is_one_line_exit_2(tmp_path: Path, setting, needle) -> None:
    done = run_cli("run", "all", "--out", str(tmp_path / "pki"), "--set", setting)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and needle in done.stderr, done.stderr
    assert not (tmp_path / "pki").exists()


# --- real consumers (helpers from tests/processes.py) ----------------------------------------


@pytest.mark.real
def test_etcd_serves_and_etcdctl_authenticates(typed_pki, tmp_path: Path) -> None:
    etcd, etcdctl = need_program("etcd"), need_program("etcdctl")
    kind, pki = typed_pki
    client, peer = free_ports(2)
    argv = single_etcd(
        etcd, "etcdserver", tmp_path / "data", (client, peer),
        ca=pki / "etcd-ca.crt", server=pki / "etcdserver", peer=pki / "etcdpeer1",
    )  # fmt: skip
    ctl = [
        etcdctl, "--endpoints", f"https://{LOOPBACK}:{client}", "--dial-timeout", "2s",
        "--cacert", str(pki / "etcd-ca.crt"),
        "--cert", str(pki / "apiserver-etcd-client.crt"),
        "--key", str(pki / "apiserver-etcd-client.key"),
    ]  # fmt: skip
    env = dict(os.environ, ETCDCTL_API="3")

    def etcdctl_run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ctl, *args], env=env, capture_output=True, text=True, timeout=30)

    servers = Processes()
    try:
        servers.start(argv, tmp_path / "etcd.log")
        wait_for(lambda: port_open(client), "etcd", alive=servers)
        put = etcdctl_run("put", "key-type", kind)
        got = etcdctl_run("get", "key-type", "--print-value-only")
    finally:
        servers.stop()
    assert put.returncode == 0, put.stderr
    assert got.returncode == 0 and got.stdout.strip() == kind, got.stderr


@pytest.mark.real
def test_kubectl_talks_mutual_tls_to_an_apiserver_certificate(typed_pki, tmp_path: Path) -> None:
    """kubectl (Go) checks the apiserver certificate by name and presents admin's certificate;
    `openssl s_server -Verify` stands in for the API server and requires a client certificate."""
    kubectl, openssl = need_program("kubectl"), need_program("openssl")
    kind, pki = typed_pki
    (port,) = free_ports(1)
    server = [
        openssl, "s_server", "-accept", f"{LOOPBACK}:{port}", "-www",
        "-cert", str(pki / "apiserver.crt"), "-key", str(pki / "apiserver.key"),
        "-CAfile", str(pki / "ca.crt"), "-Verify", "1", "-verify_return_error",
    ]  # fmt: skip
    client = [
        kubectl, "get", "--raw", "/", "--request-timeout", "5s",
        "--server", f"https://{LOOPBACK}:{port}", "--tls-server-name", "kubernetes",
        "--certificate-authority", str(pki / "ca.crt"),
        "--client-certificate", str(pki / "admin.crt"), "--client-key", str(pki / "admin.key"),
    ]  # fmt: skip
    env = dict(os.environ, HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "none"))
    servers = Processes()
    try:
        servers.start(server, tmp_path / "s_server.log")
        wait_for(lambda: port_open(port), "openssl s_server", alive=servers)
        done = subprocess.run(client, capture_output=True, text=True, timeout=30, env=env)
    finally:
        servers.stop()
    assert done.returncode == 0, done.stderr
    assert "Subject: CN=kube-admin, O=system:masters" in done.stdout  # s_server saw the client


def test_python_ssl_accepts_server_and_client(typed_pki) -> None:
    kind, pki = typed_pki
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
    server.load_verify_locations(pki / "ca.crt")
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    client.load_cert_chain(pki / "admin.crt", pki / "admin.key")
    seen: dict = {}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(20)

        def serve() -> None:
            conn, _ = listener.accept()
            with server.wrap_socket(conn, server_side=True) as tls:
                seen["client"] = tls.getpeercert()["subject"]
                tls.sendall(b"ok")

        thread = threading.Thread(target=serve)
        thread.start()
        addr = listener.getsockname()
        with client.wrap_socket(
            socket.create_connection(addr, timeout=20), server_hostname="kubernetes"
        ) as tls:
            assert tls.recv(2) == b"ok"
        thread.join(timeout=20)
    assert seen["client"] == (
        (("commonName", "kube-admin"),),
        (("organizationName", "system:masters"),),
    )


def test_verify_command_passes_for_every_key_type(typed_pki) -> None:
    """`verify` (openssl reading the files back) finds what the plan meant, whatever the key."""
    kind, out = typed_pki
    done = run_cli("verify", "--out", str(out), *SMALL, *KINDS[kind])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("all pass"), done.stdout
