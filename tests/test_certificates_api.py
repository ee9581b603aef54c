"""The Certificates API: `csr NAME` manifests and `export --node NODE` scripts, checked by
decoding the manifest (yaml, base64) and handing the CSR to `openssl req -verify`."""

from __future__ import annotations

import base64
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kpki_openssl.plan import certificates_api
from kpki_openssl.plan.steps import CertStep, build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.conftest import need_program, run_cli
from tests.oracle import subject_pairs

KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
CLIENT = "kubernetes.io/kube-apiserver-client"
CLIENT_USAGES = ["digital signature", "key encipherment", "client auth"]
SERVING_USAGES = ["digital signature", "key encipherment", "server auth"]

# step -> (signerName, usages), written out by hand from the Certificates API documentation
# (admin's O=system:masters is refused for kube-apiserver-client: see test_controlplane.py)
EXPECTED = {
    "kube-controller-manager": (CLIENT, CLIENT_USAGES),
    "kube-scheduler": (CLIENT, CLIENT_USAGES),
    "kube-proxy": (CLIENT, CLIENT_USAGES),
    "kubelet-client-node01": (KUBELET_CLIENT, CLIENT_USAGES),
    "kubelet-node01": (KUBELET_SERVING, SERVING_USAGES),
}


def decode(manifest: str) -> tuple[dict, bytes]:
    doc = yaml.safe_load(manifest)
    assert doc["apiVersion"] == "certificates.k8s.io/v1"
    assert doc["kind"] == "CertificateSigningRequest"
    return doc, base64.b64decode(doc["spec"]["request"], validate=True)


def openssl_req_verify(pem: bytes, folder: Path) -> subprocess.CompletedProcess:
    path = folder / "decoded.csr"
    path.write_bytes(pem)
    return subprocess.run(
        ["openssl", "req", "-in", str(path), "-verify", "-noout"], capture_output=True, text=True
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_csr_manifest_decodes_to_a_csr_openssl_accepts(
    built_pki: Path, tmp_path: Path, name: str
) -> None:
    done = run_cli("csr", name, "--out", str(built_pki))
    assert done.returncode == 0, done.stderr
    doc, pem = decode(done.stdout)
    signer, usages = EXPECTED[name]
    assert doc["metadata"]["name"] == name
    assert doc["spec"]["signerName"] == signer
    assert doc["spec"]["usages"] == usages
    assert doc["spec"]["expirationSeconds"] == 365 * 86400
    assert pem == (built_pki / f"{name}.csr").read_bytes()
    verified = openssl_req_verify(pem, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "verify ok" in (verified.stdout + verified.stderr).lower()


@pytest.mark.parametrize("name", ["apiserver", "etcdserver", "ca"])
def test_no_builtin_signer_is_one_line_exit_2(built_pki: Path, name: str) -> None:
    done = run_cli("csr", name, "--out", str(built_pki))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--signer" in done.stderr
    custom = run_cli("csr", name, "--out", str(built_pki), "--signer", "example.com/etcd")
    assert custom.returncode == 0, custom.stderr  # a custom signer may issue anything
    doc, _pem = decode(custom.stdout)
    assert doc["spec"]["signerName"] == "example.com/etcd"


def test_signer_per_role_for_every_step() -> None:
    recipe = load_recipe("kubernetes")
    plan = build_plan(recipe, resolve_variables(recipe))
    signers = {
        s.name: certificates_api.signer_for(s.spec) for s in plan.steps if isinstance(s, CertStep)
    }
    for node in ("node01", "node02", "node03"):
        assert signers.pop(f"kubelet-client-{node}") == KUBELET_CLIENT
        assert signers.pop(f"kubelet-{node}") == KUBELET_SERVING
    for name in ("ca", "etcd-ca", "front-proxy-ca", "etcdserver", "etcdpeer1", "apiserver"):
        assert signers.pop(name) is None
    assert set(signers.values()) == {CLIENT}  # admin, components, apiserver's client certs


def test_node_script_makes_keys_and_manifests_on_the_node(tmp_path: Path) -> None:
    need_program("openssl")
    script = tmp_path / "node02.sh"
    done = run_cli("export", "--node", "node02", "-o", str(script), "--set", "key_size=1024")
    assert done.returncode == 0, done.stderr
    text = script.read_text()
    commands = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert not [ln for ln in commands if "ca.key" in ln or "node01" in ln or "node03" in ln]
    assert "openssl x509" not in text  # signing is the cluster's job
    node = tmp_path / "node02"
    node.mkdir()
    subprocess.run(["bash", str(script)], cwd=node, check=True, capture_output=True, timeout=120)
    keys = sorted(p.name for p in node.glob("*.key"))
    assert keys == ["kubelet-client-node02.key", "kubelet-node02.key"]
    for key in keys:
        assert stat.S_IMODE((node / key).stat().st_mode) == 0o600
    expected = {
        "kubelet-client-node02": (KUBELET_CLIENT, CLIENT_USAGES),
        "kubelet-node02": (KUBELET_SERVING, SERVING_USAGES),
    }
    for name, (signer, usages) in expected.items():
        doc, pem = decode((node / f"{name}-csr.yaml").read_text())
        assert doc["spec"]["signerName"] == signer and doc["spec"]["usages"] == usages
        assert openssl_req_verify(pem, tmp_path).returncode == 0
        csr = x509.load_pem_x509_csr(pem)
        assert subject_pairs(csr) == [("CN", "system:node:node02"), ("O", "system:nodes")]
        key = subprocess.run(
            ["openssl", "pkey", "-in", str(node / f"{name}.key"), "-pubout"],
            capture_output=True,
            check=True,
        ).stdout
        assert (
            csr.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            == key
        )
    # run again: the node's keys are kept, the CSRs remade from them
    before = {k: (node / k).read_bytes() for k in keys}
    subprocess.run(["bash", str(script)], cwd=node, check=True, capture_output=True, timeout=120)
    assert {k: (node / k).read_bytes() for k in keys} == before


def test_node_not_in_nodes_is_one_line(tmp_path: Path) -> None:
    done = run_cli("export", "--node", "node09")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "'node09'" in done.stderr


@pytest.mark.parametrize("signer", ["", "a b", "example/etcd", "example.com/", "example.com/a b"])
def test_a_signer_that_is_no_signer_name_is_one_line(built_pki: Path, signer: str) -> None:
    done = run_cli("csr", "apiserver", "--out", str(built_pki), "--signer", signer)
    assert done.returncode == 2, done.stdout
    assert done.stderr == (
        f"kpki-openssl: error: --signer: {signer!r} is not a signer name of the form "
        "DOMAIN/NAME (example.com/my-signer)\n"
    )
