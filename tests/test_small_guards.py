"""csr NAME wraps only the request the recipe's step makes; renew names what it cannot renew;
verify reports a kept key left readable by others, the service-account pair's included. CSRs
and keys are made by openssl; the shown commands are run by bash and agree with each verdict."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_program, run_cli


def openssl(*argv: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *argv], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


SUBJECT = "/CN=system:kube-proxy/O=system:kube-proxy"  # the bundled recipe's kube-proxy


def swap_subject(pki: Path) -> None:
    openssl("req", "-new", "-key", "kube-proxy.key", "-subj", "/CN=system:kube-proxy/O=system:masters",
            "-out", "kube-proxy.csr", cwd=pki)  # fmt: skip


def swap_sans(pki: Path) -> None:
    cnf = pki / "extra.cnf"
    cnf.write_text(
        "[req]\ndistinguished_name = dn\nreq_extensions = v3\n[dn]\n"
        "[v3]\nsubjectAltName = DNS:evil.example\n"
    )
    openssl("req", "-new", "-key", "kube-proxy.key", "-subj", SUBJECT,
            "-config", "extra.cnf", "-out", "kube-proxy.csr", cwd=pki)  # fmt: skip


def swap_key_type(pki: Path) -> None:
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", "other.key", cwd=pki)  # fmt: skip
    openssl("req", "-new", "-key", "other.key", "-subj", SUBJECT,
            "-out", "kube-proxy.csr", cwd=pki)  # fmt: skip


def append_another(pki: Path) -> None:
    data = (pki / "kube-proxy.csr").read_bytes()
    swap_subject(pki)
    (pki / "kube-proxy.csr").write_bytes(data + (pki / "kube-proxy.csr").read_bytes())


SWAPS = {
    "subject O=system:masters": (swap_subject, "asks for subject /CN=system:kube-proxy/O=system"),
    "an extra SAN": (swap_sans, "asks for SANs DNS:evil.example, the recipe for none"),
    "an ECDSA key": (swap_key_type, "holds a ecdsa P-256 key, the recipe asks for rsa 2048"),
    "a second request appended": (append_another, "holds more than one PEM certificate request"),
}


@pytest.mark.parametrize("case", SWAPS)
def test_csr_refuses_a_request_the_recipe_does_not_make(
    built_pki: Path, tmp_path: Path, case: str
) -> None:
    need_program("openssl")
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    manifest = tmp_path / "kube-proxy-csr.yaml"
    assert run_cli("csr", "kube-proxy", "--out", str(pki), "-o", str(manifest)).returncode == 0
    manifest.unlink()
    swap, words = SWAPS[case]
    swap(pki)
    done = run_cli("csr", "kube-proxy", "--out", str(pki), "-o", str(manifest))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert (
        f"csr kube-proxy: kube-proxy.csr {words}" in done.stderr.replace("error: csr", "csr")
        or words in done.stderr
    ), done.stderr
    assert not manifest.exists()


@pytest.mark.parametrize(
    ("name", "kind"),
    [("sa", "is a key pair (sa.key, sa.pub)"), ("admin.kubeconfig", "is a kubeconfig"),
     ("kube-apiserver.flags", "is a component file")],
)  # fmt: skip
def test_renew_names_what_is_not_a_certificate(built_pki: Path, name: str, kind: str) -> None:
    before = digest(built_pki)
    for extra in ((), ("--dry-run",)):
        done = run_cli("renew", name, "--out", str(built_pki), "--quiet", *extra)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"renew: {name!r} {kind}" in done.stderr, done.stderr
    assert digest(built_pki) == before


def test_verify_reports_the_key_pair_a_kept_key_left_readable_and_another_public_half(
    built_pki: Path, tmp_path: Path
) -> None:
    need_program("bash")
    need_program("openssl")
    pki = tmp_path / "pki"
    shutil.copytree(built_pki, pki)
    os.chmod(pki / "sa.key", 0o644)
    os.chmod(pki / "admin.key", 0o644)
    openssl("genpkey", "-algorithm", "RSA", "-out", "other.key", cwd=pki)
    openssl("pkey", "-in", "other.key", "-pubout", "-out", "sa.pub", cwd=pki)
    done = run_cli("verify", "--out", str(pki), "--quiet", "--json")
    assert done.returncode == 1
    found = json.loads(done.stdout)["checks"]
    failed = {(c["file"], c["check"]) for c in found if not c["ok"]}
    assert failed == {("sa.key", "key-mode"), ("admin.key", "key-mode"), ("sa.pub", "pub-match")}
    for check in (c for c in found if c["check"] in ("key-mode", "pub-match", "key-type")):
        ran = subprocess.run(
            ["bash", "-c", check["command"]], cwd=pki, capture_output=True, timeout=60
        )
        if check["check"] == "key-mode":
            assert ran.stdout.decode().strip() == ("644" if not check["ok"] else "600"), check
        else:
            assert (ran.returncode == 0) == check["ok"], check
