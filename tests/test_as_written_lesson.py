"""The document as written, step by step: the walkthrough shows what fails and what comes out
wrong (lint, verify), and the certificates really are what it says (checked with cryptography);
compare puts the document's commands beside the corrected ones."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import need_program, openssl_writes_v1, run_cli
from tests.oracle import load_cert

STEPS = ("ca", "kube-scheduler", "etcdserver", "apiserver", "kubelet-node01", "kubelet-node02")
# what prove needs besides: etcd's peer, the apiserver's clients and the document's files
PROVE_STEPS = ("etcdpeer1", "apiserver-etcd-client", "apiserver-kubelet-client",
               "kube-config.yaml", "kubelet-client-config.yaml", "kube-apiserver.flags",
               "kubelet-config.yaml", "etcd-etcdpeer1.flags")  # fmt: skip


@pytest.fixture(scope="module")
def as_written_walk(tmp_path_factory) -> tuple[Path, str]:
    need_program("openssl")
    out = tmp_path_factory.mktemp("as-written") / "pki"
    done = run_cli(
        "walkthrough", "--recipe", "as-written", "--yes", "--keep-going", "--out", str(out),
        *STEPS, *PROVE_STEPS,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # a command failed, as in the document
    return out, done.stdout


def section(text: str, step: str) -> str:
    """One step's part of the walkthrough output."""
    start = text.index(f"] step {step}: ")
    end = text.find("\n=== [", start)
    return text[start : end if end != -1 else len(text)]


def test_the_documents_openssl_cnf_fails_and_the_walkthrough_goes_on(as_written_walk) -> None:
    out, text = as_written_walk
    api = section(text, "apiserver")
    assert (
        "FAILED (exit 1): openssl req -new -key apiserver.key -subj /CN=kube-apiserver "
        "-out apiserver.csr -config openssl.cnf" in re.sub(r" \\\n +", " ", api)  # unfolded
    )
    assert "lint: cnf-section:" in api and "lint: extensions-dropped:" in api
    assert not (out / "apiserver.crt").exists()
    # --keep-going: the steps after it ran
    assert (out / "kubelet-node01.crt").exists() and (out / "kubelet-node02.crt").exists()
    assert "1 FAILED (apiserver)" in text


def test_each_known_defect_is_shown_at_its_step(as_written_walk) -> None:
    _out, text = as_written_walk
    expected = {
        "ca": ["lint: default-validity:", "lint: ca-not-ca:"],
        "kube-scheduler": [
            "lint: identity: CN=kube-scheduler",
            "lint: no-extensions:",
            "verify: kube-scheduler.crt: chain:",
        ],
        "etcdserver": ["lint: no-sans:", "lint: no-extensions:"],
        "kubelet-node01": ["lint: no-sans:", "lint: identity: CN=kubelet"],
    }
    for step, needles in expected.items():
        part = section(text, step)
        assert "What is wrong" in part, step
        for needle in needles:
            assert needle in part, (step, needle)
    # openssl verify -x509_strict refuses the v1 CA of 3.0 and 3.1 itself; from 3.2 the CA is
    # v3 and verifies as its own trust anchor: only its leaves fail
    assert ("verify: ca.crt: chain:" in section(text, "ca")) is openssl_writes_v1()


def test_the_certificates_are_as_wrong_as_the_walkthrough_says(as_written_walk) -> None:
    """An oracle that is not our code: 30 days, no usages or SANs (v1 without extensions on
    OpenSSL 3.0 and 3.1; v3 with key identifiers only from 3.2), CN=kubelet twice."""
    out, text = as_written_walk
    ids = {x509.SubjectKeyIdentifier.oid, x509.AuthorityKeyIdentifier.oid}
    v1 = openssl_writes_v1()
    for base in ("ca", "kube-scheduler", "etcdserver", "kubelet-node01"):
        cert = load_cert(out / f"{base}.crt")
        assert cert.version == (x509.Version.v1 if v1 else x509.Version.v3), base
        assert {e.oid for e in cert.extensions} <= (set() if v1 else ids), base
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=30)
    # the walkthrough shows the CA as openssl prints it: no CA:TRUE
    shown = section(text, "ca").split("$ openssl x509 -in ca.crt -noout", 1)[1]
    assert "CA:TRUE" not in shown.split("What is wrong", 1)[0]
    names = {
        load_cert(out / f"kubelet-{n}.crt").subject.rfc4514_string() for n in ("node01", "node02")
    }
    assert names == {"O=system:nodes,CN=kubelet"}  # two nodes, one name


def test_the_corrected_recipe_passes_every_check(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    steps = ("ca", "etcd-ca", "kube-scheduler", "etcdserver", "apiserver", "kubelet-node01")
    done = run_cli("walkthrough", "--yes", "--out", str(out), *steps)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Checks: lint and verify find nothing wrong.") == len(steps)
    assert "What is wrong" not in done.stdout


def test_compare_puts_the_document_beside_the_fix() -> None:
    done = run_cli("compare", "apiserver", "kube-scheduler")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "--- as-written/apiserver\n+++ kubernetes/apiserver\n" in text
    assert (
        "\n-openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -out apiserver.crt\n"
        in text
    )
    assert (
        "\n+openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -days 365 "
        "-extfile apiserver.cnf -extensions v3_req -out apiserver.crt\n" in text
    )
    assert "\n-keyUsage = nonRepudiation\n" in text
    assert "\n-openssl req -new -key kube-scheduler.key -subj /CN=kube-scheduler/" in text
    assert "\n+openssl req -new -key kube-scheduler.key -subj /CN=system:kube-scheduler/" in text
    assert "# lint as-written: identity: CN=kube-scheduler" in text
    assert "# lint as-written: cnf-section:" in text


def test_compare_against_a_recipe_that_does_not_exist() -> None:
    done = run_cli("compare", "--against", "nope")
    assert done.returncode == 2
    assert done.stderr.startswith("kpki-openssl: error: --against: 'nope' is neither a bundled")
    assert done.stderr.count("\n") == 1


# The document's files, copied from it by hand (tabs included): the oracle for `verbatim:`.
DOCUMENT_FILES = {
    "kube-config.yaml": (
        "apiVersion: v1\nclusters:\n- cluster:\n\tcertificate-authority: ca.crt\n"
        "\tserver: https://kube-apiserver:6443\n  name: kubernetes\nkind: Config\nusers:\n"
        "- name: kubernetes-admin\n  user:\n    client-certificate: admin.crt\n"
        "    client-key: admin.key\n"
    ),
    "kubelet-config.yaml": (
        "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
        'authentication:\n  x509:\n    clientCAFile: "/var/lib/kubernetes/ca.pem"\n'
        'authorization:\n  mode: Webhook\nclusterDomain: "cluser.local"\nclusterDNS:\n'
        '  - "10.32.0.10"\npodCIDR: "${POD_CIDR}"\n'
        'resolvConf: "/run/systemd/resolve/resolve.conf"\nruntimeRequestTimeout: "15m"\n'
        'tlsCertFile: "/var/lib/kubelet/kubelet-node01.crt"\n'
        'tlsPrivateKeyFile: "/var/lib/kubelet/kubelet-node01.key"\n'
    ),
    "kube-apiserver.flags": (
        "--client-ca-file=/var/lib/kubernetes/ca.pem\n"
        "--tls-cert-file=/var/lib/kubernetes/apiserver.cr\n"
        "--tls-private-key-file=/var/lib/kubernetes/apiserver.key\n"
        "--etcd-ca-file=/var/lib/kubernetes/ca.pem\n"
        "--etcd-certfile=/var/lib/kubernetes/apiserver-etcd-client.crt\n"
        "--etcd-keyfile=/var/lib/kubernetes/apiserver-etcd-client.key\n"
        "--kubelet-ca-file=/var/lib/kubernetes/ca.pem\n"
        "--kubelet-certfile=/var/lib/kubernetes/apiserver-kubelet-client.crt\n"
        "--kubelet-keyfile=/var/lib/kubernetes/apiserver-kubelet-client.key\n"
    ),
}


def test_as_written_writes_the_documents_files_verbatim(as_written_walk) -> None:
    out, _text = as_written_walk
    for name, text in DOCUMENT_FILES.items():
        assert (out / name).read_text() == text, name
    client = (out / "kubelet-client-config.yaml").read_text()
    assert "server: https://${KUBELET_HOSTNAME}:6443\n" in client


def kubectl_refusal(folder: Path) -> str:
    """kubectl's own first line about the document's kube-config.yaml (its YAML has a tab)."""
    (folder / "kube-config.yaml").write_text(DOCUMENT_FILES["kube-config.yaml"])
    env = {"HOME": str(folder), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(
        [need_program("kubectl"), "config", "view", "--kubeconfig", "kube-config.yaml"],
        capture_output=True, text=True, timeout=30, env=env, cwd=folder,
    )  # fmt: skip
    assert done.returncode != 0 and done.stdout == ""
    return done.stderr.strip().splitlines()[0]


def test_compare_quotes_kubectl_refusing_the_documents_kubeconfig(tmp_path: Path, capsys) -> None:
    from kpki_openssl.cli import main as cli_main

    refusal = kubectl_refusal(tmp_path)  # kubectl's words, whatever its version says
    assert cli_main(["compare", "kube-config.yaml", "kubelet-config.yaml"]) == 0
    text = capsys.readouterr().out
    assert "# as-written's kube-config.yaml beside kubernetes's admin.kubeconfig" in text
    assert "--- as-written/kube-config.yaml\n+++ kubernetes/admin.kubeconfig\n" in text
    assert "\n-\tcertificate-authority: ca.crt\n" in text
    assert f"# kubectl refuses it: {refusal}" in text
    assert "# lint as-written: not-yaml: not YAML (line 4, column 1)" in text
    assert "# kubernetes departs: contexts:" in text
    assert (
        '\n-clusterDomain: "cluser.local"\n' in text and "\n+clusterDomain: cluster.local\n" in text
    )
    assert "# kubernetes departs: resolvConf: A typo" in text


def test_prove_on_the_documents_folder_shows_the_real_failures(as_written_walk) -> None:
    """The document's own files and certificates, met by the real programs."""
    import contextlib
    import io
    import json

    from kpki_openssl.cli import main as cli_main

    for name in ("etcd", "etcdctl", "kubectl", "curl"):
        need_program(name)
    out, _text = as_written_walk
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli_main(["prove", "--recipe", "as-written", "--out", str(out), "--json"])
    assert code == 1
    checks = {c["what"]: c for c in json.loads(buffer.getvalue())["checks"]}
    # refused by the real programs (their words differ between versions: etcd 3.4 and 3.5, and
    # from OpenSSL 3.2 the CA itself is refused before the missing SANs are looked at)
    put = checks["etcdctl put through member etcdpeer1 as apiserver-etcd-client.crt"]
    assert put["status"] == "fail" and put["program"] == "etcdctl"
    kubelet = checks["kubelet-node01.crt by the name node01, to the apiserver's kubelet client"]
    assert kubelet["status"] == "fail" and kubelet["program"] == "kubectl"
    # under the failure, lint's word on the certificate it used: no subjectAltName
    assert any(
        ": no-sans: " in why and why.startswith("kubelet-node01:") for why in kubelet["why"]
    ), kubelet
    api = checks["openssl s_server presents the apiserver certificate"]
    assert api["said"].startswith("nothing to serve: apiserver.crt not yet built (step ")
    view = checks["kubectl config view --kubeconfig kube-config.yaml (no API server to dial)"]
    assert view["status"] == "fail" and view["program"] == "kubectl"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        cli_main(["prove", "--recipe", "as-written", "--out", str(out), "--only", "kubelet"])
    assert "        why: kubelet-node01: no-sans: " in text.getvalue()
    files = {c["what"]: c["said"] for c in checks.values() if c["group"] == "files"}
    assert "has no --etcd-cafile (it has --etcd-ca-file instead); ca.crt used" in files.values()
    assert any("names /var/lib/kubernetes/apiserver.cr, which is not in the folder" in said
               for said in files.values())  # fmt: skip


def test_the_walkthrough_shows_kubectl_refusing_the_documents_kubeconfig(
    as_written_walk, tmp_path: Path
) -> None:
    refusal = kubectl_refusal(tmp_path)
    _out, text = as_written_walk
    part = section(text, "kube-config.yaml")
    assert "lint: not-yaml: not YAML (line 4, column 1)" in part
    assert "kubectl refuses it: " in part
    assert " ".join(f"kubectl refuses it: {refusal}".split()) in " ".join(part.split())
