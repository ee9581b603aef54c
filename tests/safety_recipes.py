"""A tiny recipe for the fault tests (a CA, a server and a client certificate, a kubeconfig and
a flags file: every kind of produced file in 5 steps), and the oracle checks of a folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.oracle import key_matches, load_cert, openssl_verify

TINY = """\
name: tiny
description: A CA, a server and a client certificate, a kubeconfig and a flags file.
variables:
  key_type: {default: ecdsa, choices: [rsa, ecdsa, ed25519]}
  key_size: {default: 2048}
  days: {default: 30}
  ca_days: {default: 60}
  embed_certs: {default: no}
profiles:
  ca: {ca: true, key_usage: [keyCertSign, cRLSign, digitalSignature]}
  client: {key_usage: [digitalSignature], extended_key_usage: [clientAuth]}
  server: {key_usage: [digitalSignature], extended_key_usage: [serverAuth]}
certificates:
  - name: ca
    profile: ca
    title: TITLE_CA
    explain: EXPLAIN_CA
    subject: {CN: TINY-CA}
  - name: apiserver
    ca: ca
    profile: server
    subject: {CN: kube-apiserver}
    sans: {dns: [kube-apiserver], ip: [127.0.0.1]}
  - name: admin
    ca: ca
    profile: client
    subject: {CN: kube-admin, O: "system:masters"}
kubeconfigs:
  - file: admin.kubeconfig
    client: admin
    served_by: apiserver
    server: "https://kube-apiserver:6443"
    embed: "{embed_certs}"
    title: TITLE_KUBECONFIG
    explain: EXPLAIN_KUBECONFIG
components:
  - file: kube-apiserver.flags
    program: kube-apiserver
    title: TITLE_FLAGS
    explain: EXPLAIN_FLAGS
    flags: {--client-ca-file: ca.crt, --tls-cert-file: apiserver.crt, --tls-private-key-file: apiserver.key}
"""
CERTS = ("ca", "apiserver", "admin")


def tiny_recipe(folder: Path, text: str = TINY) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(text)
    return path


def assert_complete_pki(out: Path) -> None:
    """What an oracle that is not our code says of a finished tiny PKI: every certificate
    verifies against ca.crt (openssl verify -x509_strict, cryptography) and matches its key;
    the kubeconfig is a YAML mapping naming them; the flags file is one flag a line."""
    ca = load_cert(out / "ca.crt")
    for name in CERTS:
        crt = out / f"{name}.crt"
        done = openssl_verify(out / "ca.crt", crt)
        assert done.returncode == 0, (crt, done.stdout + done.stderr)
        cert = load_cert(crt)
        cert.verify_directly_issued_by(ca)
        assert key_matches(cert, out / f"{name}.key"), crt
    config = yaml.safe_load((out / "admin.kubeconfig").read_text())
    assert config["kind"] == "Config"
    assert config["users"][0]["user"]["client-certificate"] == "admin.crt"
    flags = (out / "kube-apiserver.flags").read_text().splitlines()
    assert [f for f in flags if not f.startswith("#")] == [
        "--client-ca-file=ca.crt",
        "--tls-cert-file=apiserver.crt",
        "--tls-private-key-file=apiserver.key",
    ]


def assert_no_broken_file(out: Path) -> None:
    """Whatever a failed run left in the folder is whole: no empty file, every key, CSR and
    certificate parses, every certificate has its matching key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for path in out.iterdir():
        if path.name in (".kpki",):
            continue
        data = path.read_bytes()
        assert data, f"{path.name} is empty"
        if path.suffix == ".key":
            serialization.load_pem_private_key(data, password=None)
        elif path.suffix == ".csr":
            x509.load_pem_x509_csr(data)
        elif path.suffix == ".crt":
            cert = x509.load_pem_x509_certificate(data)
            assert key_matches(cert, path.with_suffix(".key")), path.name


def replay(log: Path, into: Path) -> subprocess.CompletedProcess:
    """`bash commands.sh` in an empty folder, as the README says, under a timeout."""
    into.mkdir()
    return subprocess.run(["bash", str(log)], cwd=into, capture_output=True, text=True, timeout=120)
