"""The kubelet TLS bootstrap kit (`--set kubelet_bootstrap=yes`), run for real and checked with
kubectl itself: every object equals what kubectl's own generator prints when the command is typed
by hand here; each bootstrap kubeconfig, used by real kubectl, sends its token to a stand-in
presenting the recipe's apiserver.crt on 127.0.0.1 and nothing to a server from another CA; no
secret reaches the dry run, commands.sh, an exported script or the terminal.

No kube-apiserver or kubelet exists here: the stand-ins are Python's ssl module, and the approval
script runs against a stub `kubectl` that serves a CSR list and records approve/deny.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kpki_openssl.plan import bootstrap_kit
from tests.conftest import REPO, need_program, run_cli
from tests.processes import LOOPBACK

pytestmark = pytest.mark.real

NODES = ("node01", "node02", "node03")
KIT = ["--set", "kubelet_bootstrap=yes", "--set", "key_type=ecdsa"]
ENV = {**os.environ, "SSL_CERT_FILE": "/dev/null"}


def kit_sets(out: Path) -> list[str]:
    return [*KIT, "--set", f"host_kubelet_dir={out}", "--set", f"host_pki_dir={out}"]


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> tuple[Path, str]:
    """(the folder, everything `run all` printed)."""
    need_program("openssl")
    need_program("kubectl")
    out = tmp_path_factory.mktemp("kit") / "pki"
    done = run_cli("run", "all", "--out", str(out), *kit_sets(out))
    assert done.returncode == 0, done.stderr
    return out, done.stdout + done.stderr


def secrets_of(out: Path) -> list[str]:
    return [(out / f"bootstrap-token-{n}.secret").read_text() for n in NODES]


def kubectl(*argv: str, cwd: Path) -> str:
    done = subprocess.run(["kubectl", *argv], cwd=cwd, capture_output=True, text=True,
                          env={**ENV, "HOME": str(cwd / "home")}, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tokens_are_made_into_0600_files(kit: tuple[Path, str]) -> None:
    out, _said = kit
    now = datetime.now(timezone.utc)
    for node in NODES:
        tid = bootstrap_kit.token_id(node)
        assert re.fullmatch(r"[a-z0-9]{6}", tid)
        base = out / f"bootstrap-token-{node}"
        secret = Path(f"{base}.secret").read_text()
        token = Path(f"{base}.token").read_text()
        assert re.fullmatch(r"[0-9a-f]{16}", secret)
        assert token == f"{tid}.{secret}" and re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token)
        expires = datetime.strptime(Path(f"{base}.expiration").read_text(), "%Y-%m-%dT%H:%M:%SZ")
        left = expires.replace(tzinfo=timezone.utc) - now
        assert timedelta(hours=23) < left <= timedelta(hours=24)
        for suffix in (".secret", ".token", ".expiration", "-secret.yaml"):
            assert stat.S_IMODE(Path(f"{base}{suffix}").stat().st_mode) == 0o600, suffix
    assert len(set(secrets_of(out))) == len(NODES)


def test_each_object_is_what_kubectl_prints(kit: tuple[Path, str], tmp_path: Path) -> None:
    """The same generator commands typed here, by hand, print the same YAML byte for byte."""
    out, _said = kit
    for node in NODES:
        tid = bootstrap_kit.token_id(node)
        base = f"bootstrap-token-{node}"
        typed = kubectl(
            "-n", "kube-system", "create", "secret", "generic", f"bootstrap-token-{tid}",
            "--type=bootstrap.kubernetes.io/token", f"--from-literal=token-id={tid}",
            f"--from-file=token-secret={out / (base + '.secret')}",
            f"--from-file=expiration={out / (base + '.expiration')}",
            "--from-literal=usage-bootstrap-authentication=true",
            "--from-literal=usage-bootstrap-signing=true",
            f"--from-literal=description=kubelet TLS bootstrap token for {node} (kpki-openssl)",
            "--dry-run=client", "-o", "yaml", cwd=tmp_path,
        )  # fmt: skip
        assert (out / f"{base}-secret.yaml").read_text() == typed
        assert bootstrap_kit.check_secret(typed.encode(), tid) is None
    bindings = {
        "create-csrs-for-bootstrapping": ("system:node-bootstrapper", "system:bootstrappers"),
        "auto-approve-csrs-for-group": (
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            "system:bootstrappers",
        ),
        "auto-approve-renewals-for-nodes": (
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            "system:nodes",
        ),
    }
    for name, (role, group) in bindings.items():
        typed = kubectl("create", "clusterrolebinding", name, f"--clusterrole={role}",
                        f"--group={group}", "--dry-run=client", "-o", "yaml", cwd=tmp_path)  # fmt: skip
        assert (out / f"{name}.yaml").read_text() == typed
    kubectl("config", "--kubeconfig=ci.yaml", "set-cluster", "kubernetes",
            "--server=https://kube-apiserver:6443", f"--certificate-authority={out / 'ca.crt'}",
            "--embed-certs=true", cwd=tmp_path)  # fmt: skip
    assert (tmp_path / "ci.yaml").read_text() == (out / "cluster-info-kubeconfig.yaml").read_text()
    typed = kubectl("-n", "kube-public", "create", "configmap", "cluster-info",
                    f"--from-file=kubeconfig={tmp_path / 'ci.yaml'}", "--dry-run=client",
                    "-o", "yaml", cwd=tmp_path)  # fmt: skip
    assert (out / "cluster-info-configmap.yaml").read_text() == typed


def test_no_secret_in_any_log_or_script(kit: tuple[Path, str], tmp_path: Path) -> None:
    out, said = kit
    secrets = secrets_of(out)
    texts = {
        "commands.sh": (out / "commands.sh").read_text(),
        "run's output": said,
        "the dry run": run_cli("run", "all", "--dry-run", "--out", str(out), *kit_sets(out)).stdout,
        "the exported script": run_cli("export", *kit_sets(out)).stdout,
        "the handout": run_cli("export", "--format", "markdown", *kit_sets(out)).stdout,
        "explain": run_cli("explain", "all", *kit_sets(out)).stdout,
        "the build records": "".join(p.read_text() for p in (out / ".kpki").rglob("*.json")),
    }
    for where, text in texts.items():
        assert text, where
        for secret in secrets:
            assert secret not in text, where
    assert (
        "openssl rand -hex 8 | tr -d '\\n' > bootstrap-token-node01.secret" in texts["the dry run"]
    )


def test_the_kit_is_made_once(kit: tuple[Path, str]) -> None:
    out, _said = kit
    before = secrets_of(out)
    again = run_cli("run", "all", "--out", str(out), *kit_sets(out))
    assert again.returncode == 0 and " 0 steps run" in again.stdout, again.stdout
    assert secrets_of(out) == before


def test_control_plane_flags_and_kubelet_configuration(kit: tuple[Path, str]) -> None:
    import yaml

    out, _said = kit
    assert "--enable-bootstrap-token-auth=true" in (out / "kube-apiserver.flags").read_text()
    kcm = (out / "kube-controller-manager.flags").read_text()
    assert "--controllers=*,bootstrapsigner,tokencleaner" in kcm.splitlines()
    for node in NODES:
        config = yaml.safe_load((out / f"kubelet-config-bootstrap-{node}.yaml").read_text())
        assert config["rotateCertificates"] is True and config["serverTLSBootstrap"] is True
        assert "tlsCertFile" not in config and "tlsPrivateKeyFile" not in config
        flags = (out / f"kubelet-bootstrap-{node}.flags").read_text().splitlines()
        assert f"--bootstrap-kubeconfig={out}/bootstrap-kubelet-{node}.kubeconfig" in flags


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str | None]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.headers.get("Authorization"))
        body = b'{"major":"1","minor":"32"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def recording_server(cert: Path, key: Path) -> Iterator[tuple[int, list]]:
    """HTTPS on 127.0.0.1 presenting cert/key, no client certificate asked; records the
    Authorization header of every request."""
    seen: list[str | None] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def impostor(folder: Path) -> tuple[Path, Path]:
    """A server certificate for kube-apiserver from a CA nobody here trusts (openssl)."""
    folder.mkdir()
    run = lambda *a: subprocess.run(["openssl", *a], cwd=folder, check=True,  # noqa: E731
                                    capture_output=True, env=ENV)  # fmt: skip
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-subj", "/CN=another-ca", "-days", "1", "-out", "ca.crt")  # fmt: skip
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "srv.key", "-subj", "/CN=kube-apiserver", "-out", "srv.csr")  # fmt: skip
    (folder / "ext.cnf").write_text("subjectAltName=DNS:kube-apiserver\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "1",
        "-extfile", "ext.cnf", "-out", "srv.crt")  # fmt: skip
    return folder / "srv.crt", folder / "srv.key"


@pytest.mark.parametrize("node", NODES)
def test_the_bootstrap_kubeconfig_sends_its_token_to_the_recipes_apiserver_only(
    kit: tuple[Path, str], tmp_path: Path, node: str
) -> None:
    out, _said = kit
    conf = out / f"bootstrap-kubelet-{node}.kubeconfig"
    token = (out / f"bootstrap-token-{node}.token").read_text()

    def get(port: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(conf), "--server", f"https://{LOOPBACK}:{port}",
             "--tls-server-name", "kube-apiserver", "get", "--raw", "/version"],
            capture_output=True, text=True, timeout=60, env={**ENV, "HOME": str(tmp_path)},
        )  # fmt: skip

    with recording_server(out / "apiserver.crt", out / "apiserver.key") as (port, seen):
        done = get(port)
    assert done.returncode == 0, done.stderr
    assert seen and set(seen) == {f"Bearer {token}"}
    with recording_server(*impostor(tmp_path / "impostor")) as (port, seen):
        refused = get(port)
    assert refused.returncode != 0
    assert seen == []  # the TLS handshake failed: no request, so no token, reached it


# ----- the approval script, against a stub kubectl


def serving_csr(folder: Path, name: str, subject: str, san: str) -> str:
    """A kubelet's serving CSR as client-go makes it (ECDSA P-256), base64 as in the API."""
    import base64

    run = lambda *a: subprocess.run(["openssl", *a], cwd=folder, check=True,  # noqa: E731
                                    capture_output=True, env=ENV)  # fmt: skip
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-subj", subject, "-addext", f"subjectAltName={san}",
        "-out", f"{name}.csr")  # fmt: skip
    return base64.b64encode((folder / f"{name}.csr").read_bytes()).decode()


def csr_item(name: str, user: str, request: str, signer: str = "kubernetes.io/kubelet-serving",
             approved: bool = False) -> dict:  # fmt: skip
    status = {"conditions": [{"type": "Approved", "status": "True"}]} if approved else {}
    return {
        "metadata": {"name": name},
        "spec": {
            "signerName": signer,
            "username": user,
            "groups": ["system:nodes", "system:authenticated"],
            "usages": ["digital signature", "server auth"],
            "request": request,
        },
        "status": status,
    }


STUB = """#!{python}
import json, sys
from pathlib import Path
here = Path(__file__).parent
if sys.argv[1:4] == ["get", "csr", "-o"]:
    sys.stdout.write((here / "csrs.json").read_text())
elif sys.argv[1:2] == ["certificate"]:
    with open(here / "calls.log", "a") as log:
        log.write(" ".join(sys.argv[2:]) + "\\n")
else:
    sys.exit("stub kubectl: unexpected " + " ".join(sys.argv[1:]))
"""


def test_the_approval_script_approves_only_what_the_recipe_allows(
    kit: tuple[Path, str], tmp_path: Path
) -> None:
    out, _said = kit
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    work = tmp_path / "csrs"
    work.mkdir()
    node01 = "/CN=system:node:node01/O=system:nodes"
    items = [
        csr_item("csr-good", "system:node:node01", serving_csr(work, "a", node01, "DNS:node01")),
        csr_item("csr-extra-san", "system:node:node02", serving_csr(
            work, "b", "/CN=system:node:node02/O=system:nodes", "DNS:node02,DNS:kubernetes")),
        csr_item("csr-other-node", "system:node:node03", serving_csr(work, "c", node01,
                                                                     "DNS:node01")),
        csr_item("csr-client", "system:node:node01", serving_csr(work, "d", node01, "DNS:node01"),
                 signer="kubernetes.io/kube-apiserver-client-kubelet"),
        csr_item("csr-done", "system:node:node01", serving_csr(work, "e", node01, "DNS:node01"),
                 approved=True),
    ]  # fmt: skip
    (bin_dir / "csrs.json").write_text(json.dumps({"kind": "List", "items": items}))
    (bin_dir / "kubectl").write_text(STUB.format(python=sys.executable))
    (bin_dir / "kpki-openssl").write_text(
        f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m kpki_openssl "$@"\n'
    )
    for name in ("kubectl", "kpki-openssl"):
        (bin_dir / name).chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    done = subprocess.run(["bash", str(out / "approve-kubelet-serving.sh")], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    calls = (bin_dir / "calls.log").read_text().splitlines()
    assert calls == ["approve csr-good", "deny csr-extra-san", "deny csr-other-node"]
    assert "kubernetes" in done.stderr and "system:node:node01" in done.stderr


def test_the_exported_kit_runs_and_shows_no_secret(kit: tuple[Path, str], tmp_path: Path) -> None:
    out, _said = kit
    script = tmp_path / "kit.sh"
    assert run_cli("export", "-o", str(script), *kit_sets(out)).returncode == 0
    folder = tmp_path / "built"
    folder.mkdir()
    done = subprocess.run(["bash", str(script)], cwd=folder, capture_output=True, text=True,
                          env={**ENV, "HOME": str(tmp_path)}, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for node in NODES:
        tid = bootstrap_kit.token_id(node)
        token = (folder / f"bootstrap-token-{node}.token").read_bytes()
        assert bootstrap_kit.check_token(token, tid) is None
        secret_yaml = (folder / f"bootstrap-token-{node}-secret.yaml").read_bytes()
        assert bootstrap_kit.check_secret(secret_yaml, tid) is None
        assert token.decode().split(".")[1] not in script.read_text() + done.stdout + done.stderr


def test_kubectl_checks_nothing_so_the_tool_does() -> None:
    """kubectl printed a Secret named for another token id without a word (measured); the
    tool's own check refuses it, and a token with a newline."""
    good = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bootstrap-token-abcdef\n"
        "  namespace: kube-system\ntype: bootstrap.kubernetes.io/token\ndata:\n"
        "  token-id: YWJjZGVm\n  token-secret: MDEyMzQ1Njc4OWFiY2RlZg==\n"
        "  expiration: MjAyNi0xMi0wN1QwMDowMDowMFo=\n  usage-bootstrap-authentication: dHJ1ZQ==\n"
    )
    assert bootstrap_kit.check_secret(good.encode(), "abcdef") is None
    for wrong in ("bootstrap-token-zzzzzz", "namespace: default", "type: Opaque"):
        old = {"bootstrap-token-zzzzzz": "bootstrap-token-abcdef",
               "namespace: default": "namespace: kube-system",
               "type: Opaque": "type: bootstrap.kubernetes.io/token"}[wrong]  # fmt: skip
        assert bootstrap_kit.check_secret(good.replace(old, wrong).encode(), "abcdef")
    assert bootstrap_kit.check_token(b"abcdef.0123456789abcdef", "abcdef") is None
    assert bootstrap_kit.check_token(b"abcdef.0123456789abcdef\n", "abcdef")
    assert bootstrap_kit.check_token(b"zzzzzz.0123456789abcdef", "abcdef")
