"""Keys that never leave the node, used by the real programs: node01 makes its keys and CSRs
with the script of `export --node node01` (bash, openssl), the CA host signs them with `sign`
(node_keys=on-node: `run` made nothing for the nodes), and then

- etcd (a real member on 127.0.0.1, trusting the cluster CA as the kube-apiserver's
  --client-ca-file does: etcd_ca=ca) takes a `put` from etcdctl holding node01's client pair;
- kubectl and curl present node01's client pair to a mutual-TLS stand-in serving apiserver.crt,
  which sees the user system:node:node01;
- kubectl and curl, as the API server's kubelet client, reach a stand-in serving node01's
  kubelet certificate (name node01), and a name the certificate lacks is refused.

The stand-ins are Python's ssl module (tests/tls_server.py), not a kube-apiserver or a kubelet:
none exists here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_program, run_cli
from tests.processes import LOOPBACK, Processes, free_ports, single_etcd, wait_for
from tests.tls_server import mtls_server

pytestmark = pytest.mark.real

SETS = ["--set", "key_type=ecdsa", "--set", "etcd_ca=ca", "--set", "node_keys=on-node"]


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> tuple[Path, Path]:
    """(the CA host's folder, node01's folder): keys made on the node, certificates by sign."""
    need_program("openssl")
    root = tmp_path_factory.mktemp("keys-on-node")
    pki, node = root / "pki", root / "node01"
    assert run_cli("run", "all", "--quiet", "--out", str(pki), *SETS).returncode == 0
    assert not list(pki.glob("kubelet-*node01.key")) and not list(pki.glob("kubelet-*node01.crt"))
    script = root / "node01.sh"
    assert run_cli("export", "--node", "node01", "-o", str(script), *SETS).returncode == 0
    node.mkdir()
    subprocess.run(["bash", str(script)], cwd=node, check=True, capture_output=True, timeout=120)
    done = run_cli("sign", str(node), "--out", str(pki), *SETS)
    assert done.returncode == 0, done.stderr
    return pki, node


def env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def client(*argv: str, home: Path) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=60, env=env(home), cwd=home
    )


def test_etcd_takes_a_put_from_the_nodes_own_key(signed: tuple[Path, Path], tmp_path: Path):
    pki, node = signed
    etcd, etcdctl = need_program("etcd"), need_program("etcdctl")
    ports = free_ports(2)
    procs = Processes()
    argv = single_etcd(etcd, "etcdpeer1", tmp_path / "data", (ports[0], ports[1]),
                       pki / "ca.crt", pki / "etcdserver", pki / "etcdpeer1")  # fmt: skip
    try:
        procs.start(argv, tmp_path / "etcd.log")
        tls = [f"--cacert={pki / 'ca.crt'}", f"--cert={pki / 'kubelet-client-node01.crt'}",
               f"--key={node / 'kubelet-client-node01.key'}"]  # fmt: skip
        endpoint = f"--endpoints=https://{LOOPBACK}:{ports[0]}"
        wait_for(
            lambda: (
                client(
                    etcdctl, endpoint, *tls, "endpoint", "health", home=tmp_path / "h"
                ).returncode
                == 0
            ),
            "etcd health with node01's certificate",
            alive=procs,
        )
        put = client(etcdctl, endpoint, *tls, "put", "/kpki/node01", "own-key", home=tmp_path / "h")
        assert put.returncode == 0 and put.stdout.strip() == "OK", put.stderr
    finally:
        procs.stop(grace=1.0)


def test_kubectl_and_curl_present_the_nodes_client_certificate(
    signed: tuple[Path, Path], tmp_path: Path
):
    pki, node = signed
    kubectl, curl = need_program("kubectl"), need_program("curl")
    cert, key = pki / "kubelet-client-node01.crt", node / "kubelet-client-node01.key"
    with mtls_server(pki / "apiserver.crt", pki / "apiserver.key", pki / "ca.crt") as port:
        done = client(
            kubectl, "--server", f"https://{LOOPBACK}:{port}", "--tls-server-name", "kubernetes",
            "--certificate-authority", str(pki / "ca.crt"),
            "--client-certificate", str(cert), "--client-key", str(key),
            "get", "--raw", "/", home=tmp_path / "k",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok system:node:node01"
        done = client(
            curl, "-sS", "--cacert", str(pki / "ca.crt"), "--cert", str(cert), "--key", str(key),
            "--connect-to", f"kubernetes:{port}:{LOOPBACK}:{port}", f"https://kubernetes:{port}/",
            home=tmp_path / "c",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok system:node:node01"


def test_the_nodes_serving_certificate_is_accepted_by_its_name_only(
    signed: tuple[Path, Path], tmp_path: Path
):
    pki, node = signed
    kubectl, curl = need_program("kubectl"), need_program("curl")
    as_apiserver = ["--client-certificate", str(pki / "apiserver-kubelet-client.crt"),
                    "--client-key", str(pki / "apiserver-kubelet-client.key")]  # fmt: skip
    serving = (pki / "kubelet-node01.crt", node / "kubelet-node01.key")
    with mtls_server(*serving, pki / "ca.crt") as port:
        base = [kubectl, "--server", f"https://{LOOPBACK}:{port}",
                "--certificate-authority", str(pki / "ca.crt"), *as_apiserver]  # fmt: skip
        done = client(*base, "--tls-server-name", "node01", "get", "--raw", "/", home=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok kube-apiserver-kubelet-client"
        wrong = client(*base, "--tls-server-name", "node02", "get", "--raw", "/", home=tmp_path)
        assert wrong.returncode != 0 and "ok " not in wrong.stdout
        done = client(
            curl, "-sS", "--cacert", str(pki / "ca.crt"),
            "--cert", str(pki / "apiserver-kubelet-client.crt"),
            "--key", str(pki / "apiserver-kubelet-client.key"),
            "--connect-to", f"node01:{port}:{LOOPBACK}:{port}", f"https://node01:{port}/",
            home=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok kube-apiserver-kubelet-client"
