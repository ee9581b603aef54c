"""Real kubectl and curl against a TLS server presenting apiserver.crt, and a Python `ssl` mutual-TLS
handshake with each kubelet's serving certificate.

The stand-in API server is `openssl s_server -WWW`, started with the files the generated
kube-apiserver.flags names (--tls-cert-file, --tls-private-key-file, --client-ca-file) and
requiring a client certificate (-Verify 1 -verify_return_error); it serves the document's PodList
at /api/v1/pods. The kubelet's server is started from the files its generated
kubelet-config-<node>.yaml names; its client uses the --kubelet-* files of kube-apiserver.flags.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from kpki_openssl.cli import main as cli_main
from tests.conftest import consumer_sets, need_program
from tests.expected import (
    APISERVER_DNS,
    APISERVER_IPS,
    KUBE_APISERVER_FLAGS,
    KUBECONFIGS,
    KUBELET_CONFIG_FIELDS,
    NODES,
    SERVER,
    SERVICE_CIDR,
)
from tests.processes import LOOPBACK, Processes, flag_values, free_ports, port_open, wait_for

pytestmark = pytest.mark.real

# The document's example answer to its curl call.
POD_LIST = {
    "kind": "PodList",
    "apiVersion": "v1",
    "metadata": {"selfLink": "/api/v1/pods", "resourceVersion": "123456"},
    "items": [
        {
            "metadata": {
                "name": "example-pod",
                "namespace": "default",
                "labels": {"app": "example"},
            },
            "spec": {"containers": [{"name": "example-container", "image": "nginx:latest"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }
    ],
}


@pytest.fixture(scope="module")
def embedded_pki(consumer_pki: Path, tmp_path_factory) -> Path:
    """The same PKI with embedded kubeconfigs: its *.kubeconfig removed, then `run all
    --set embed_certs=yes` again, so only the kubeconfig steps run (kubectl --embed-certs).
    The copy lives in another folder, so the files that name host_pki_dir are written again too
    (left in place, `run` would report them as changed and leave them)."""
    need_program("kubectl")
    out = tmp_path_factory.mktemp("embedded") / "pki"
    shutil.copytree(consumer_pki, out)
    for pattern in ("*.kubeconfig", "*.flags", "*.yaml"):
        for path in out.glob(pattern):
            path.unlink()
    argv = ["run", "all", "--quiet", "--out", str(out), *consumer_sets(out)]
    assert cli_main([*argv, "--set", "embed_certs=yes"]) == 0
    return out


@pytest.fixture(params=["paths", "embedded"])
def form(request, consumer_pki: Path) -> Path:
    """The PKI folder of one kubeconfig form."""
    return consumer_pki if request.param == "paths" else request.getfixturevalue("embedded_pki")


@pytest.fixture(scope="module")
def apiserver_port(consumer_pki: Path, tmp_path_factory):
    """`openssl s_server` with the apiserver's TLS flags, requiring a client certificate."""
    openssl = need_program("openssl")
    flags = flag_values(consumer_pki / "kube-apiserver.flags")
    www = tmp_path_factory.mktemp("www")
    (www / "api" / "v1").mkdir(parents=True)
    (www / "api" / "v1" / "pods").write_text(json.dumps(POD_LIST))
    (port,) = free_ports(1)
    procs = Processes()
    try:
        procs.start(
            [
                openssl,
                "s_server",
                "-WWW",
                "-quiet",
                "-accept",
                f"{LOOPBACK}:{port}",
                "-cert",
                flags["--tls-cert-file"],
                "-key",
                flags["--tls-private-key-file"],
                "-CAfile",
                flags["--client-ca-file"],
                "-Verify",
                "1",
                "-verify_return_error",
            ],  # fmt: skip
            www.parent / "s_server.log",
            cwd=www,
        )
        wait_for(lambda: port_open(port), "openssl s_server", timeout=15, alive=procs)
        yield port
    finally:
        procs.stop()


def kubectl(*args: str, home: Path) -> subprocess.CompletedProcess:
    """kubectl with an empty HOME and no KUBECONFIG from the environment; run from `home`, so a
    relative path in a kubeconfig can only resolve from the kubeconfig's own folder."""
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [need_program("kubectl"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=home,
    )


def get_pods(pki: Path, kubeconfig: str, port: int, name: str, home: Path, *extra: str):
    return kubectl(
        "--kubeconfig", str(pki / kubeconfig),
        "--server", f"https://{LOOPBACK}:{port}",
        "--tls-server-name", name,
        *extra,
        "get", "--raw", "/api/v1/pods",
        home=home,
    )  # fmt: skip


# Every name and address of apiserver.crt, and the kubernetes Service's IP worked out from the
# service range here (the first address of --service-cluster-ip-range), not read from the recipe.
SERVICE_IP = str(ipaddress.ip_network(SERVICE_CIDR)[1])
NAMES = list(dict.fromkeys([*APISERVER_DNS, *APISERVER_IPS, SERVICE_IP]))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kubeconfig", sorted(KUBECONFIGS))
def test_every_kubeconfig_reaches_the_apiserver_by_each_of_its_names(
    consumer_pki: Path, apiserver_port: int, kubeconfig: str, name: str, tmp_path: Path
) -> None:
    """kubectl checks the name against apiserver.crt; --tls-server-name sets the name, only
    the address is 127.0.0.1."""
    done = get_pods(consumer_pki, kubeconfig, apiserver_port, name, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == POD_LIST


@pytest.mark.parametrize("kubeconfig", sorted(KUBECONFIGS))
def test_every_kubeconfig_in_both_forms_gets_the_pod_list(
    form: Path, apiserver_port: int, kubeconfig: str, tmp_path: Path
) -> None:
    """The kubeconfig's own server host (kube-apiserver) as the TLS name; only the address
    is redirected to 127.0.0.1."""
    done = get_pods(form, kubeconfig, apiserver_port, "kube-apiserver", tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == POD_LIST


def test_a_name_missing_from_the_certificate_is_refused(
    consumer_pki: Path, apiserver_port: int, tmp_path: Path
) -> None:
    done = get_pods(consumer_pki, "admin.kubeconfig", apiserver_port, "not-a-san", tmp_path)
    assert done.returncode != 0
    assert "certificate is valid for" in done.stderr and "not not-a-san" in done.stderr


def test_a_client_certificate_from_another_ca_is_refused(
    consumer_pki: Path, foreign_pki: Path, apiserver_port: int, tmp_path: Path
) -> None:
    done = get_pods(
        consumer_pki, "admin.kubeconfig", apiserver_port, "kubernetes", tmp_path,
        "--client-certificate", str(foreign_pki / "admin.crt"),
        "--client-key", str(foreign_pki / "admin.key"),
    )  # fmt: skip
    assert done.returncode != 0
    assert "PodList" not in done.stdout


def test_the_documents_curl_call(consumer_pki: Path, apiserver_port: int) -> None:
    """`curl https://kube-apiserver:6443/api/v1/pods --key admin.key --cert admin.crt
    --cacert ca.crt`, as the document writes it; --connect-to only sends it to 127.0.0.1."""
    curl = need_program("curl")
    redirect = ["--connect-to", f"kube-apiserver:6443:{LOOPBACK}:{apiserver_port}", "-sS"]
    document = ["https://kube-apiserver:6443/api/v1/pods", "--key", "admin.key"]
    document += ["--cert", "admin.crt", "--cacert", "ca.crt"]
    done = subprocess.run(
        [curl, *document, *redirect], cwd=consumer_pki, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == POD_LIST
    without_cert = [curl, "https://kube-apiserver:6443/api/v1/pods", "--cacert", "ca.crt"]
    refused = subprocess.run(
        [*without_cert, *redirect], cwd=consumer_pki, capture_output=True, text=True, timeout=30
    )
    assert refused.returncode != 0 and "PodList" not in refused.stdout


@pytest.mark.parametrize("kubeconfig", sorted(KUBECONFIGS))
def test_kubeconfigs_parse_with_kubectl_config_view(
    form: Path, kubeconfig: str, tmp_path: Path
) -> None:
    client, user, cluster, context = KUBECONFIGS[kubeconfig]
    done = kubectl(
        "config",
        "view",
        "--raw",
        "-o",
        "json",
        "--kubeconfig",
        str(form / kubeconfig),
        home=tmp_path,
    )  # noqa: E501
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["current-context"] == context
    (ctx,) = view["contexts"]
    assert ctx == {"name": context, "context": {"cluster": cluster, "user": user}}
    (entry,) = view["clusters"]
    assert entry["name"] == cluster and entry["cluster"]["server"] == SERVER
    (who,) = view["users"]
    assert who["name"] == user
    if form.parent.name.startswith("embedded"):
        assert stat.S_IMODE((form / kubeconfig).stat().st_mode) == 0o600
        data = entry["cluster"]["certificate-authority-data"]
        assert base64.b64decode(data) == (form / "ca.crt").read_bytes()
        assert (
            base64.b64decode(who["user"]["client-certificate-data"])
            == (form / f"{client}.crt").read_bytes()
        )
        assert (
            base64.b64decode(who["user"]["client-key-data"])
            == (form / f"{client}.key").read_bytes()
        )  # noqa: E501
        assert "client-key" not in who["user"] and "certificate-authority" not in entry["cluster"]
    else:
        paths = {
            "ca": entry["cluster"]["certificate-authority"],
            "crt": who["user"]["client-certificate"],
            "key": who["user"]["client-key"],
        }
        want = {"ca": "ca.crt", "crt": f"{client}.crt", "key": f"{client}.key"}
        for key, path in paths.items():
            resolved = (form / path).resolve()  # relative paths resolve from the file's folder
            assert resolved == (form / want[key]).resolve(), (key, path)


def test_kubeconfig_yaml_is_a_standard_config(consumer_pki: Path) -> None:
    """Read back with PyYAML as data, independent of kubectl."""
    for name in KUBECONFIGS:
        doc = yaml.safe_load((consumer_pki / name).read_text())
        assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
        assert {"clusters", "users", "contexts", "current-context"} <= set(doc)


def mutual_tls(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str) -> dict:
    """One TLS handshake on 127.0.0.1, both sides' results (peer certificate or error)."""
    result: dict = {}
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    result["client_cert"] = tls.getpeercert()
                    tls.sendall(b"ok")
            except (OSError, ssl.SSLError) as exc:
                result["server_error"] = exc

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            raw = socket.create_connection((LOOPBACK, port), timeout=10)
            with raw, client_ctx.wrap_socket(raw, server_hostname=name) as tls:
                result["server_cert"] = tls.getpeercert()
                result["reply"] = tls.recv(2)
        except (OSError, ssl.SSLError) as exc:
            result["client_error"] = exc
        finally:
            thread.join(15)
    return result


def kubelet_server(pki: Path, node: str) -> ssl.SSLContext:
    """The kubelet's HTTPS server as its generated KubeletConfiguration sets it up."""
    config = yaml.safe_load((pki / f"kubelet-config-{node}.yaml").read_text())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(config["tlsCertFile"], config["tlsPrivateKeyFile"])
    ctx.load_verify_locations(config["authentication"]["x509"]["clientCAFile"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def apiserver_as_kubelet_client(pki: Path, with_cert: bool = True) -> ssl.SSLContext:
    """The API server dialling a kubelet, with the --kubelet-* files of kube-apiserver.flags."""
    flags = flag_values(pki / "kube-apiserver.flags")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks the host name and the chain
    ctx.load_verify_locations(flags["--kubelet-certificate-authority"])
    if with_cert:
        ctx.load_cert_chain(flags["--kubelet-client-certificate"], flags["--kubelet-client-key"])
    return ctx


def subject_cn(cert: dict) -> str:
    return next(v for rdn in cert["subject"] for k, v in rdn if k == "commonName")


@pytest.mark.parametrize("node", NODES)
def test_kubelet_serving_certificate_mutual_tls(consumer_pki: Path, node: str) -> None:
    done = mutual_tls(
        kubelet_server(consumer_pki, node), apiserver_as_kubelet_client(consumer_pki), node
    )
    assert "client_error" not in done and "server_error" not in done, done
    assert done["reply"] == b"ok"
    assert subject_cn(done["server_cert"]) == f"system:node:{node}"
    assert subject_cn(done["client_cert"]) == "kube-apiserver-kubelet-client"


def test_kubelet_certificate_is_refused_for_another_node_name(consumer_pki: Path) -> None:
    done = mutual_tls(
        kubelet_server(consumer_pki, "node01"), apiserver_as_kubelet_client(consumer_pki), "node02"
    )
    assert isinstance(done.get("client_error"), ssl.SSLCertVerificationError), done
    assert "node02" in str(done["client_error"])


def test_kubelet_refuses_a_client_without_certificate(consumer_pki: Path) -> None:
    done = mutual_tls(
        kubelet_server(consumer_pki, "node01"),
        apiserver_as_kubelet_client(consumer_pki, with_cert=False),
        "node01",
    )
    assert "server_error" in done and "reply" not in done, done


def test_apiserver_flags_are_current_names_and_right_files(consumer_pki: Path) -> None:
    """Flag names from the kubernetes.io kube-apiserver reference (tests/expected.py)."""
    flags = flag_values(consumer_pki / "kube-apiserver.flags")
    paths = {k: v for k, v in flags.items() if v.startswith("/")}
    assert {k: Path(v).name for k, v in paths.items()} == {
        k: v for k, (v, _ref) in KUBE_APISERVER_FLAGS.items() if k in paths
    }
    assert all(Path(v).parent == consumer_pki for v in paths.values())
    assert all((consumer_pki / Path(v).name).is_file() for v in paths.values())


@pytest.mark.parametrize("node", NODES)
def test_kubelet_config_uses_known_fields(consumer_pki: Path, node: str) -> None:
    config = yaml.safe_load((consumer_pki / f"kubelet-config-{node}.yaml").read_text())

    def keys(node_: dict, prefix: str = "") -> set[str]:
        out = set()
        for key, value in node_.items():
            out.add(prefix + key)
            if isinstance(value, dict):
                out |= keys(value, f"{prefix}{key}.")
        return out

    assert keys(config) <= KUBELET_CONFIG_FIELDS, keys(config) - KUBELET_CONFIG_FIELDS
    assert config["kind"] == "KubeletConfiguration"
    assert config["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert config["clusterDomain"] == "cluster.local"
    assert Path(config["tlsCertFile"]).name == f"kubelet-{node}.crt"
    assert Path(config["tlsPrivateKeyFile"]).name == f"kubelet-{node}.key"


def test_embedded_form_is_logged_and_exported_without_key_material(
    embedded_pki: Path, apiserver_port: int, tmp_path: Path
) -> None:
    """The log records the kubectl --embed-certs commands, never the data; the exported step,
    run by bash next to the certificates, makes a kubeconfig that works the same."""
    log = (embedded_pki / "commands.sh").read_text()
    assert "kubectl config set-credentials kubernetes-admin --client-certificate=admin.crt" in log
    assert "PRIVATE KEY" not in log and "client-key-data" not in log
    folder = tmp_path / "replay"
    folder.mkdir()
    for name in ("ca.crt", "admin.crt", "admin.key"):
        shutil.copy(embedded_pki / name, folder / name)
    script = folder / "admin.sh"
    export = ["export", "admin.kubeconfig", "-o", str(script), "--set", "embed_certs=yes"]
    assert cli_main(export) == 0
    text = script.read_text()
    assert "PRIVATE KEY" not in text and "--embed-certs=true" in text
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run(
        ["bash", str(script)], cwd=folder, check=True, capture_output=True, env=env, timeout=120
    )
    assert stat.S_IMODE((folder / "admin.kubeconfig").stat().st_mode) == 0o600
    done = get_pods(folder, "admin.kubeconfig", apiserver_port, "kube-apiserver", tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == POD_LIST
