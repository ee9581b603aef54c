"""The kubeadm recipe: kubeadm's file layout and names, three CAs, each leaf checked against its
own CA (and refused by the others), and a real etcd serving with the etcd/ certificates."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_program, run_cli
from tests.oracle import (
    CLIENT_AUTH,
    SERVER_AUTH,
    assert_is_leaf,
    eku,
    key_matches,
    load_cert,
    openssl_verify,
    sans,
    subject_pairs,
)
from tests.processes import LOOPBACK, Processes, free_ports, single_etcd, wait_for

# Written out by hand from kubeadm's certlist.go (current release).
CAS = {"ca": [("CN", "kubernetes")], "front-proxy-ca": [("CN", "front-proxy-ca")],
       "etcd/ca": [("CN", "etcd-ca")]}  # fmt: skip
NODE = "controlplane"
APISERVER_DNS = [NODE, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local"]  # fmt: skip
ETCD_SANS = ([NODE, "localhost"], ["10.0.0.10", "127.0.0.1", "::1"])
# file -> (signing CA file, subject, EKU, (DNS SANs, IP SANs))
LEAVES = {
    "apiserver": ("ca", [("CN", "kube-apiserver")], {SERVER_AUTH},
                  (APISERVER_DNS, ["10.96.0.1", "10.0.0.10"])),
    "apiserver-kubelet-client": ("ca", [("CN", "kube-apiserver-kubelet-client"),
                                        ("O", "kubeadm:cluster-admins")], {CLIENT_AUTH}, ([], [])),
    "front-proxy-client": ("front-proxy-ca", [("CN", "front-proxy-client")], {CLIENT_AUTH}, ([], [])),
    "etcd/server": ("etcd/ca", [("CN", NODE)], {SERVER_AUTH, CLIENT_AUTH}, ETCD_SANS),
    "etcd/peer": ("etcd/ca", [("CN", NODE)], {SERVER_AUTH, CLIENT_AUTH}, ETCD_SANS),
    "etcd/healthcheck-client": ("etcd/ca", [("CN", "kube-etcd-healthcheck-client")], {CLIENT_AUTH}, ([], [])),
    "apiserver-etcd-client": ("etcd/ca", [("CN", "kube-apiserver-etcd-client")], {CLIENT_AUTH}, ([], [])),
}  # fmt: skip


@pytest.fixture(scope="module")
def kubeadm_dir(tmp_path_factory) -> Path:
    """The output folder, laid out like /etc/kubernetes (kubeconfigs embedded: needs kubectl)."""
    need_program("openssl")
    need_program("kubectl")
    out = tmp_path_factory.mktemp("kubeadm") / "etc-kubernetes"
    done = run_cli("run", "all", "--quiet", "--recipe", "kubeadm", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def kubeadm_pki(kubeadm_dir: Path) -> Path:
    return kubeadm_dir / "pki"


def test_kubeadm_layout(kubeadm_pki: Path) -> None:
    """Every file kubeadm expects in /etc/kubernetes/pki, at kubeadm's path."""
    expected = {f"{base}.{ext}" for base in [*CAS, *LEAVES] for ext in ("crt", "key")}
    expected |= {"sa.key", "sa.pub"}
    present = {str(p.relative_to(kubeadm_pki)) for p in kubeadm_pki.rglob("*") if p.is_file()}
    assert expected <= present
    extra = present - expected
    assert {Path(p).suffix for p in extra} <= {".csr", ".cnf"}  # kubeadm ignores these
    for key in [p for p in present if p.endswith(".key")]:
        assert stat.S_IMODE((kubeadm_pki / key).stat().st_mode) == 0o600, key


def test_three_cas_each_signs_only_its_own(kubeadm_pki: Path) -> None:
    from cryptography import x509

    for ca, subject in CAS.items():
        cert = load_cert(kubeadm_pki / f"{ca}.crt")
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        # kubeadm's CA usages (pkiutil): digitalSignature, keyEncipherment, keyCertSign; no cRLSign
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert (ku.digital_signature, ku.key_encipherment, ku.key_cert_sign) == (True,) * 3
        assert not ku.crl_sign
        assert subject_pairs(cert) == subject
    for base, (ca, subject, usages, alt) in LEAVES.items():
        cert = load_cert(kubeadm_pki / f"{base}.crt")
        assert_is_leaf(cert, load_cert(kubeadm_pki / f"{ca}.crt"))
        assert subject_pairs(cert) == subject, base
        assert eku(cert) == usages, base
        assert sans(cert) == alt, base
        assert key_matches(cert, kubeadm_pki / f"{base}.key")
        for other in CAS:
            verified = openssl_verify(kubeadm_pki / f"{other}.crt", kubeadm_pki / f"{base}.crt")
            assert (verified.returncode == 0) == (other == ca), (base, other)


def test_sa_key_pair_matches(kubeadm_pki: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(
        (kubeadm_pki / "sa.key").read_bytes(), password=None
    )
    public = serialization.load_pem_public_key((kubeadm_pki / "sa.pub").read_bytes())
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert private.public_key().public_bytes(*fmt) == public.public_bytes(*fmt)
    assert private.key_size == 2048
    # kubeadm writes sa.pub with keyutil.WriteKey, like a private key: 0600
    assert stat.S_IMODE((kubeadm_pki / "sa.pub").stat().st_mode) == 0o600


def test_kubeconfigs_dial_the_control_plane_endpoint() -> None:
    sets = ["--set", "control_plane_endpoint=https://lb.example.com:6443"]
    done = run_cli("run", "all", "--dry-run", "--recipe", "kubeadm", *sets)
    assert done.returncode == 2 and "lb.example.com" in done.stderr  # not an apiserver SAN
    sets += ["--set", "apiserver_extra_dns=lb.example.com"]
    done = run_cli("run", "all", "--dry-run", "--recipe", "kubeadm", *sets)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("server: https://lb.example.com:6443") == 5  # every .conf
    assert "DNS.6 = lb.example.com" in done.stdout


@pytest.mark.real
def test_real_etcd_with_the_kubeadm_etcd_certificates(kubeadm_pki: Path, tmp_path: Path) -> None:
    """etcd serves with etcd/server + etcd/peer; etcdctl connects with apiserver-etcd-client and
    etcd/healthcheck-client; a client certificate of the cluster CA is refused."""
    etcd = need_program("etcd")
    etcdctl = need_program("etcdctl")
    client_port, peer_port = free_ports(2)
    client_url = f"https://{LOOPBACK}:{client_port}"
    pki = kubeadm_pki
    argv = single_etcd(
        etcd, NODE, tmp_path / "data", (client_port, peer_port),
        ca=pki / "etcd/ca.crt", server=pki / "etcd/server", peer=pki / "etcd/peer",
    )  # fmt: skip
    env = dict(os.environ, ETCDCTL_API="3")

    def ctl(cert: str, *args: str, seconds: int = 5) -> subprocess.CompletedProcess:
        """etcdctl as `cert`; a refused handshake is retried until `seconds` have passed."""
        return subprocess.run(
            [etcdctl, "--endpoints", client_url, "--cacert", str(pki / "etcd/ca.crt"),
             "--cert", str(pki / f"{cert}.crt"), "--key", str(pki / f"{cert}.key"),
             "--dial-timeout", f"{min(seconds, 3)}s", "--command-timeout", f"{seconds}s",
             *args],
            capture_output=True, text=True, env=env, timeout=30,
        )  # fmt: skip

    def healthy() -> bool:
        return ctl("etcd/healthcheck-client", "endpoint", "health").returncode == 0

    servers = Processes()
    try:
        servers.start(argv, tmp_path / "etcd.log")
        wait_for(healthy, "etcd (etcdctl endpoint health)", alive=servers)
        health = ctl("etcd/healthcheck-client", "endpoint", "health")
        assert "is healthy" in health.stdout + health.stderr
        put = ctl("apiserver-etcd-client", "put", "/registry/kpki", "kubeadm-layout")
        assert put.returncode == 0, put.stderr
        got = ctl("apiserver-etcd-client", "get", "/registry/kpki", "--print-value-only")
        assert got.returncode == 0 and got.stdout.strip() == "kubeadm-layout", got.stderr
        # a certificate from the cluster CA is not trusted by etcd
        # (within the same short bound the right client gets in: the refusal is not the bound)
        same_bound = ctl("apiserver-etcd-client", "get", "/registry/kpki", seconds=1)
        assert same_bound.returncode == 0, same_bound.stderr
        refused = ctl("apiserver-kubelet-client", "get", "/registry/kpki", seconds=1)
        assert refused.returncode != 0 and "kubeadm-layout" not in refused.stdout
    finally:
        servers.stop()


# kubeconfig -> (user name, client subject), from kubeadm's kubeconfig phase
KUBECONFIGS = {
    "admin.conf": ("kubernetes-admin", [("CN", "kubernetes-admin"), ("O", "kubeadm:cluster-admins")]),
    "super-admin.conf": ("kubernetes-super-admin", [("CN", "kubernetes-super-admin"), ("O", "system:masters")]),
    "controller-manager.conf": ("system:kube-controller-manager", [("CN", "system:kube-controller-manager")]),
    "scheduler.conf": ("system:kube-scheduler", [("CN", "system:kube-scheduler")]),
    "kubelet.conf": (f"system:node:{NODE}", [("CN", f"system:node:{NODE}"), ("O", "system:nodes")]),
}  # fmt: skip


def test_kubeconfigs_embed_certificates_of_the_cluster_ca(kubeadm_dir: Path) -> None:
    import base64

    import yaml
    from cryptography import x509

    ca = load_cert(kubeadm_dir / "pki/ca.crt")
    for name, (user, subject) in KUBECONFIGS.items():
        path = kubeadm_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        doc = yaml.safe_load(path.read_text())
        (cluster,) = doc["clusters"]
        assert cluster["cluster"]["server"] == "https://10.0.0.10:6443"
        embedded_ca = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
        assert embedded_ca == (kubeadm_dir / "pki/ca.crt").read_bytes()
        (entry,) = doc["users"]
        assert entry["name"] == user
        cert = x509.load_pem_x509_certificate(
            base64.b64decode(entry["user"]["client-certificate-data"])
        )
        assert subject_pairs(cert) == subject, name
        assert_is_leaf(cert, ca)
        assert eku(cert) == {CLIENT_AUTH}


@pytest.mark.real
def test_kubectl_uses_each_kubeconfig(kubeadm_dir: Path, tmp_path: Path) -> None:
    """kubectl with each kubeconfig (only the address overridden to loopback) trusts the
    apiserver certificate by the node's name and presents the right user to a mutual-TLS server.
    Its HTTP cache, if it makes one, goes to the test's own HOME (conftest), never the user's
    ~/.kube (this machine's kubectl 1.32.4 makes ~/.kube/cache; Debian 13's 1.32.3 none)."""
    import subprocess

    from tests.tls_server import mtls_server

    kubectl = need_program("kubectl")
    pki = kubeadm_dir / "pki"
    with mtls_server(pki / "apiserver.crt", pki / "apiserver.key", pki / "ca.crt") as port:
        for name, (user, _subject) in KUBECONFIGS.items():
            done = subprocess.run(
                [kubectl, "--kubeconfig", str(kubeadm_dir / name),
                 "--server", f"https://127.0.0.1:{port}", "--tls-server-name", NODE,
                 "--request-timeout", "10s", "get", "--raw", "/healthz"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert done.returncode == 0, (name, done.stderr)
            assert done.stdout.strip() == f"ok {user}"
    written = list(tmp_path.rglob("*"))
    assert all((tmp_path / "home") in p.parents or p == tmp_path / "home" for p in written)


def test_kubeadm_is_lint_clean_and_verifies(kubeadm_dir: Path) -> None:
    linted = run_cli("lint", "--recipe", "kubeadm")
    assert linted.returncode == 0, linted.stdout
    verified = run_cli("verify", "--quiet", "--recipe", "kubeadm", "--out", str(kubeadm_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "all pass" in verified.stdout


def test_kubeadm_with_ecdsa_keys(tmp_path: Path) -> None:
    """key_type=ecdsa: every key (sa.key too, whose public half comes from openssl pkey) is EC
    P-256, and the folder verifies."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    need_program("openssl")
    out = tmp_path / "etc-kubernetes"
    sets = ("--recipe", "kubeadm", "--out", str(out), "--set", "key_type=ecdsa",
            "--set", "embed_certs=no")  # fmt: skip
    done = run_cli("run", "all", "--quiet", *sets)
    assert done.returncode == 0, done.stderr
    assert (
        "openssl pkey -in pki/sa.key -pubout -out pki/sa.pub" in (out / "commands.sh").read_text()
    )
    for key in out.rglob("*.key"):
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey), key
        assert private.curve.name == "secp256r1"
    public = serialization.load_pem_public_key((out / "pki/sa.pub").read_bytes())
    sa = serialization.load_pem_private_key((out / "pki/sa.key").read_bytes(), password=None)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public.public_bytes(*fmt) == sa.public_key().public_bytes(*fmt)
    verified = run_cli("verify", "--quiet", *sets)
    assert verified.returncode == 0, verified.stdout + verified.stderr
