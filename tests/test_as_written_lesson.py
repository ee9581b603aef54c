"""The document as written, step by step: the walkthrough shows what fails and what comes out
wrong (lint, verify), and the certificates really are what it says (checked with cryptography);
compare puts the document's commands beside the corrected ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import need_program, run_cli
from tests.oracle import load_cert

STEPS = ("ca", "kube-scheduler", "etcdserver", "apiserver", "kubelet-node01", "kubelet-node02")


@pytest.fixture(scope="module")
def as_written_walk(tmp_path_factory) -> tuple[Path, str]:
    need_program("openssl")
    out = tmp_path_factory.mktemp("as-written") / "pki"
    done = run_cli(
        "walkthrough", "--recipe", "as-written", "--yes", "--keep-going", "--out", str(out),
        *STEPS,
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
        "-out apiserver.csr -config openssl.cnf" in api
    )
    assert "Unable to get 'req_distinguished_name' section" in api
    assert "lint: cnf-section:" in api and "lint: extensions-dropped:" in api
    assert not (out / "apiserver.crt").exists()
    # --keep-going: the steps after it ran
    assert (out / "kubelet-node01.crt").exists() and (out / "kubelet-node02.crt").exists()
    assert "1 FAILED (apiserver)" in text


def test_each_known_defect_is_shown_at_its_step(as_written_walk) -> None:
    _out, text = as_written_walk
    expected = {
        "ca": ["lint: default-validity:", "lint: ca-not-ca:", "verify: ca.crt: chain:"],
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


def test_the_certificates_are_as_wrong_as_the_walkthrough_says(as_written_walk) -> None:
    """An oracle that is not our code: 30 days, v1, no extensions, CN=kubelet twice."""
    out, text = as_written_walk
    for base in ("ca", "kube-scheduler", "etcdserver", "kubelet-node01"):
        cert = load_cert(out / f"{base}.crt")
        assert cert.version == x509.Version.v1, base
        assert len(cert.extensions) == 0, base
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=30)
    assert "No extensions in certificate" in section(text, "ca")
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
