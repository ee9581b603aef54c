"""`sign --kubeadm`: the output of `kubeadm certs generate-csr`, signed with the kubeadm recipe.

kubeadm is not installed here, so its output is made the way kubeadm makes it (its
createKubeConfigAndCSR and pkiutil.NewCSR): for a certificate, NAME.key and a CSR holding the
subject and the SANs only; for a kubeconfig, NAME.conf.csr and a partial NAME.conf with the
server, the user and client-key-data and no CA or client certificate. Made with openssl and
kubectl; the finished kubeconfig is then used by real kubectl against a stand-in presenting the
signed apiserver.crt on 127.0.0.1.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import need_program, run_cli
from tests.processes import LOOPBACK
from tests.tls_server import mtls_server

SETS = ["--recipe", "kubeadm", "--set", "key_type=ecdsa"]
ENV = {**os.environ, "SSL_CERT_FILE": "/dev/null"}
APISERVER_SANS = (
    "subjectAltName=DNS:controlplane,DNS:kubernetes,DNS:kubernetes.default,"
    "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,"
    "IP:10.96.0.1,IP:10.0.0.10"
)
ETCD_SANS = "subjectAltName=DNS:controlplane,DNS:localhost,IP:10.0.0.10,IP:127.0.0.1,IP:::1"


def run(*argv: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(ENV, HOME=str(home)) if home else ENV
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, (argv, done.stderr)
    return done


def key_and_csr(folder: Path, name: str, subject: str, *addext: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", f"{name}.key", cwd=folder)  # fmt: skip
    extra = [a for ext in addext for a in ("-addext", ext)]
    run("openssl", "req", "-new", "-key", f"{name}.key", "-subj", subject, *extra,
        "-out", f"{name}.csr", cwd=folder)  # fmt: skip


def partial_kubeconfig(folder: Path, name: str, user: str, subject: str, key: str = "") -> None:
    """NAME.conf with the server, the user and client-key-data only, and NAME.conf.csr."""
    key_and_csr(folder, name, subject)
    os.replace(folder / f"{name}.csr", folder / f"{name}.conf.csr")
    conf = ["--kubeconfig", f"{name}.conf"]
    home = folder / "home"
    run("kubectl", "config", "set-cluster", "kubernetes", "--server=https://10.0.0.10:6443",
        *conf, cwd=folder, home=home)  # fmt: skip
    run("kubectl", "config", "set-credentials", user, f"--client-key={key or name + '.key'}",
        "--embed-certs=true", *conf, cwd=folder, home=home)  # fmt: skip
    run("kubectl", "config", "set-context", f"{user}@kubernetes", "--cluster=kubernetes",
        f"--user={user}", *conf, cwd=folder, home=home)  # fmt: skip
    run("kubectl", "config", "use-context", f"{user}@kubernetes", *conf, cwd=folder, home=home)
    (folder / f"{name}.key").unlink()  # kubeadm keeps the key only inside the kubeconfig


@pytest.fixture
def kubeadm_out(tmp_path: Path) -> tuple[Path, Path]:
    """(the CA host's folder with kubeadm's three CAs, kubeadm's --kubeconfig-dir)."""
    need_program("openssl")
    need_program("kubectl")
    pki = tmp_path / "ca-host"
    done = run_cli("run", "ca", "etcd-ca", "--quiet", "--out", str(pki), *SETS)
    assert done.returncode == 0, done.stderr
    kdir = tmp_path / "etc-k8s"
    key_and_csr(kdir / "pki", "apiserver", "/CN=kube-apiserver", APISERVER_SANS)
    key_and_csr(kdir / "pki" / "etcd", "server", "/CN=controlplane", ETCD_SANS)
    partial_kubeconfig(kdir, "admin", "kubernetes-admin",
                       "/CN=kubernetes-admin/O=kubeadm:cluster-admins")  # fmt: skip
    return pki, kdir


def finish_lines(stdout: str) -> list[str]:
    head = "Where the kubeadm files are, put each certificate in place:"
    return [ln.strip() for ln in stdout.split(head, 1)[1].splitlines() if ln.strip()]


def test_kubeadm_csrs_are_signed_and_the_kubeconfig_works(
    kubeadm_out: tuple[Path, Path], tmp_path: Path
) -> None:
    pki, kdir = kubeadm_out
    done = run_cli("sign", "--kubeadm", str(kdir), "--out", str(pki), *SETS)
    assert done.returncode == 0, done.stderr
    for cert in ("pki/apiserver.crt", "pki/etcd/server.crt", "conf-certs/admin.crt"):
        assert (pki / cert).is_file(), done.stdout
    assert not list(pki.rglob("admin.conf"))  # kubeadm's kubeconfig holds a key: never copied
    lines = finish_lines(done.stdout)
    assert len(lines) == 4  # install twice, then set-cluster and set-credentials
    home = tmp_path / "home"
    for line in lines:  # what a person runs where the kubeadm files are
        run(*shlex.split(line), cwd=tmp_path, home=home)
    assert (kdir / "pki" / "apiserver.crt").read_bytes() == (pki / "pki/apiserver.crt").read_bytes()
    with mtls_server(kdir / "pki/apiserver.crt", kdir / "pki/apiserver.key",
                     pki / "pki/ca.crt") as port:  # fmt: skip
        got = subprocess.run(
            ["kubectl", "--kubeconfig", str(kdir / "admin.conf"),
             "--server", f"https://{LOOPBACK}:{port}", "--tls-server-name", "controlplane",
             "get", "--raw", "/"],
            capture_output=True, text=True, timeout=60, env=dict(ENV, HOME=str(home)),
        )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "ok kubernetes-admin"


def test_a_kubeconfig_whose_key_is_not_the_csrs_is_refused(
    kubeadm_out: tuple[Path, Path], tmp_path: Path
) -> None:
    pki, kdir = kubeadm_out
    other = tmp_path / "other"
    key_and_csr(other, "stranger", "/CN=x")
    (kdir / "admin.conf").unlink()
    (kdir / "admin.conf.csr").unlink()  # made again: the CSR of one key, the .conf of another
    partial_kubeconfig(kdir, "admin", "kubernetes-admin",
                       "/CN=kubernetes-admin/O=kubeadm:cluster-admins",
                       key=str(other / "stranger.key"))  # fmt: skip
    before = sorted(p.relative_to(pki).as_posix() for p in pki.rglob("*"))
    done = run_cli("sign", "--kubeadm", str(kdir), "--out", str(pki), *SETS)
    assert done.returncode == 2
    lines = [ln for ln in done.stderr.splitlines() if "admin.conf.csr" in ln]
    assert len(lines) == 1 and "client-key-data is not the CSR's key" in lines[0], done.stderr
    assert sorted(p.relative_to(pki).as_posix() for p in pki.rglob("*")) == before


def test_a_csr_without_its_pair_is_refused(kubeadm_out: tuple[Path, Path], tmp_path: Path) -> None:
    pki, kdir = kubeadm_out
    (kdir / "admin.conf").unlink()
    key_and_csr(tmp_path / "elsewhere", "apiserver", "/CN=x")
    os.replace(tmp_path / "elsewhere" / "apiserver.key", kdir / "pki" / "apiserver.key")
    done = run_cli("sign", "--kubeadm", str(kdir), "--out", str(pki), *SETS)
    assert done.returncode == 2
    assert "admin.conf is not beside it" in done.stderr
    assert "apiserver.key beside it is not the CSR's key" in done.stderr


def test_kubeadms_documented_openssl_call_drops_every_san(
    kubeadm_out: tuple[Path, Path], tmp_path: Path
) -> None:
    """`openssl x509 -req -CA ... -in apiserver.csr -out apiserver.crt`, no extension file:
    a version 1 certificate without extensions on OpenSSL 3.0 (what sign avoids)."""
    pki, kdir = kubeadm_out
    run("openssl", "x509", "-req", "-CA", str(pki / "pki/ca.crt"), "-CAkey",
        str(pki / "pki/ca.key"), "-in", str(kdir / "pki/apiserver.csr"),
        "-out", "bare.crt", cwd=tmp_path)  # fmt: skip
    bare = x509.load_pem_x509_certificate((tmp_path / "bare.crt").read_bytes())
    assert bare.version == x509.Version.v1 and len(bare.extensions) == 0
    assert run_cli("sign", str(kdir / "pki"), "--out", str(pki), *SETS).returncode == 0
    signed = x509.load_pem_x509_certificate((pki / "pki/apiserver.crt").read_bytes())
    sans = signed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
