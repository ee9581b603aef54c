"""`sign`: CSRs made elsewhere, reviewed against the recipe's row and signed with run's command.

The hostile corpus is made here with openssl itself (`openssl req -new ... -addext`), as a node
or an attacker would make it; each CSR must be refused with one line per violation and the
output folder left byte for byte as it was. Good CSRs come from the script `export --node`
writes, run by bash.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from kpki_openssl.checks import csr_policy
from kpki_openssl.plan.steps import build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.conftest import need_program, run_cli
from tests.oracle import load_cert, openssl_verify

OPENSSL_ENV = {**os.environ, "SSL_CERT_FILE": "/dev/null"}
NODE_SUBJECT = "/CN=system:node:node01/O=system:nodes"


def openssl(*argv: str, cwd: Path) -> None:
    subprocess.run(["openssl", *argv], cwd=cwd, check=True, capture_output=True, env=OPENSSL_ENV)


@pytest.fixture(scope="module")
def ca_folder(tmp_path_factory) -> Path:
    """The bundled recipe's CA and the apiserver (another step's key): RSA 2048."""
    need_program("openssl")
    out = tmp_path_factory.mktemp("sign") / "pki"
    done = run_cli("run", "ca", "apiserver", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    """A node's own RSA 2048 key and an RSA 1024 one, made once."""
    need_program("openssl")
    folder = tmp_path_factory.mktemp("keys")
    openssl("genrsa", "-out", "node.key", "2048", cwd=folder)
    openssl("genrsa", "-out", "weak.key", "1024", cwd=folder)
    return folder


@pytest.fixture
def pki(ca_folder: Path, tmp_path: Path) -> Path:
    """This test's own copy of the CA folder (a refused CSR must leave it as it was)."""
    out = tmp_path / "pki"
    shutil.copytree(ca_folder, out, symlinks=True)
    return out


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under the folder (bookkeeping included): its mode and bytes."""
    return {
        p.relative_to(folder).as_posix(): (stat.S_IMODE(p.lstat().st_mode), p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def make_csr(
    where: Path, name: str, key: Path, subject: str, *addext: str, digest: str = "-sha256"
) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    extra = [arg for ext in addext for arg in ("-addext", ext)]
    argv = ["req", "-new", digest, "-key", str(key), "-subj", subject, *extra]
    openssl(*argv, "-out", name, cwd=where)
    return where / name


def break_signature(path: Path) -> None:
    """Flip one bit of the CSR's signature (its last bytes): the request still parses."""
    lines = path.read_text().splitlines()
    der = bytearray(base64.b64decode("".join(lines[1:-1])))
    der[-3] ^= 0x01
    body = base64.b64encode(bytes(der)).decode()
    text = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    path.write_text(f"{lines[0]}\n{text}\n{lines[-1]}\n")


# name -> (file name, subject, -addext values, the checks each refusal line starts with)
# The node's key is RSA 2048, as the bundled recipe's.
CLIENT = "kubelet-client-node01.csr"
SERVING = "kubelet-node01.csr"
CORPUS = {
    "system:masters from a node": (CLIENT, "/CN=system:node:node01/O=system:masters", (),
                                   ["subject O", "subject O"]),
    "another node's CN": (CLIENT, "/CN=system:node:node02/O=system:nodes", (), ["subject CN"]),
    "SANs on a client certificate": (
        CLIENT, NODE_SUBJECT, ("subjectAltName=DNS:kubernetes.default,IP:10.96.0.1",),
        ["SAN DNS", "SAN IP"],
    ),
    "extra SANs on the kubelet's serving certificate": (
        SERVING, NODE_SUBJECT, ("subjectAltName=DNS:node01,DNS:kubernetes.default,IP:10.96.0.1",),
        ["SAN DNS", "SAN IP"],
    ),
    "CA:TRUE": (
        CLIENT, NODE_SUBJECT,
        ("basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,digitalSignature"),
        ["basicConstraints", "keyUsage"],
    ),
    "an email SAN": (SERVING, NODE_SUBJECT, ("subjectAltName=DNS:node01,email:n@example.com",),
                     ["SAN email"]),
    "a URI SAN": (SERVING, NODE_SUBJECT, ("subjectAltName=DNS:node01,URI:spiffe://x/node01",),
                  ["SAN URI"]),
    "an extra subject part": (CLIENT, NODE_SUBJECT + "/OU=ops", (), ["subject OU"]),
    "a usage the recipe does not give": (
        CLIENT, NODE_SUBJECT, ("extendedKeyUsage=clientAuth,serverAuth",), ["extendedKeyUsage"],
    ),
}  # fmt: skip


def refusal_lines(stderr: str, csr: Path) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(f"kpki-openssl: sign: {csr} ")]


def assert_refused(pki: Path, csr: Path, checks: list[str]) -> None:
    before, csr_before = snapshot(pki), csr.read_bytes()
    done = run_cli("sign", str(csr), "--out", str(pki))
    assert done.returncode == 2, done.stdout
    lines = refusal_lines(done.stderr, csr)
    found = [ln.split(": ", 3)[3].split(": ", 1)[0] for ln in lines]  # the check of each line
    assert sorted(found) == sorted(checks), done.stderr
    assert done.stderr.splitlines()[-1].startswith("kpki-openssl: error: sign: 1 CSR refused")
    assert len(done.stderr.splitlines()) == len(checks) + 1  # one line a violation, one summary
    assert "Traceback" not in done.stderr
    assert snapshot(pki) == before  # nothing written, not even the log
    assert csr.read_bytes() == csr_before


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_hostile_csr_is_refused_one_line_per_violation(
    pki: Path, keys: Path, tmp_path: Path, case: str
) -> None:
    name, subject, addext, checks = CORPUS[case]
    csr = make_csr(tmp_path / "node", name, keys / "node.key", subject, *addext)
    assert_refused(pki, csr, checks)


def test_rsa_1024_is_refused(pki: Path, keys: Path, tmp_path: Path) -> None:
    csr = make_csr(tmp_path / "node", CLIENT, keys / "weak.key", NODE_SUBJECT)
    assert_refused(pki, csr, ["key"])
    done = run_cli("sign", str(csr), "--out", str(pki))
    assert "rsa 1024" in done.stderr and "rsa 2048" in done.stderr


def test_sha1_is_refused_for_its_hash_not_called_forged(
    pki: Path, keys: Path, tmp_path: Path
) -> None:
    csr = make_csr(tmp_path / "node", CLIENT, keys / "node.key", NODE_SUBJECT, digest="-sha1")
    # openssl itself says the self-signature is fine: only the hash is refused
    said = subprocess.run(
        ["openssl", "req", "-in", str(csr), "-verify", "-noout"], capture_output=True, text=True
    )
    assert "verify OK" in said.stderr + said.stdout
    assert_refused(pki, csr, ["signature hash"])


@pytest.mark.parametrize(
    "holder,expected",
    [("ca.key", "CA ca (ca.crt)"), ("apiserver.key", "step apiserver (apiserver.crt)")],
)
def test_a_key_already_in_the_folder_is_refused(
    pki: Path, tmp_path: Path, holder: str, expected: str
) -> None:
    csr = make_csr(tmp_path / "node", CLIENT, pki / holder, NODE_SUBJECT)
    assert_refused(pki, csr, ["key"])
    done = run_cli("sign", str(csr), "--out", str(pki))
    assert expected in done.stderr


def test_a_signature_that_does_not_verify_is_refused(pki: Path, keys: Path, tmp_path: Path) -> None:
    csr = make_csr(tmp_path / "node", CLIENT, keys / "node.key", NODE_SUBJECT)
    break_signature(csr)
    said = subprocess.run(
        ["openssl", "req", "-in", str(csr), "-verify", "-noout"], capture_output=True, text=True
    )
    # measured on OpenSSL 3.0: it says "verify failure" and still exits 0
    assert "verify failure" in said.stderr + said.stdout
    assert_refused(pki, csr, ["signature"])


def test_one_refused_csr_and_nothing_is_signed(pki: Path, keys: Path, tmp_path: Path) -> None:
    node = tmp_path / "node"
    make_csr(node, CLIENT, keys / "node.key", NODE_SUBJECT)  # good
    bad = make_csr(node, SERVING, keys / "node.key", "/CN=system:node:node01/O=system:masters",
                   "subjectAltName=DNS:node01")  # fmt: skip
    before = snapshot(pki)
    done = run_cli("sign", str(node), "--out", str(pki))
    assert done.returncode == 2
    checks = [ln.split(": ", 3)[3].split(":", 1)[0] for ln in refusal_lines(done.stderr, bad)]
    # the serving CSR asks for system:masters; it also reuses the client CSR's key
    assert sorted(checks) == ["key", "subject O", "subject O"], done.stderr
    assert snapshot(pki) == before


def test_a_file_no_step_makes_is_one_line(pki: Path, keys: Path, tmp_path: Path) -> None:
    csr = make_csr(tmp_path, "laptop.csr", keys / "node.key", NODE_SUBJECT)
    done = run_cli("sign", str(csr), "--out", str(pki))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "'" + str(csr) + "'" in done.stderr
    done = run_cli("sign", str(pki / "ca.csr"), "--out", str(pki))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr


def test_not_a_csr_is_refused(pki: Path, tmp_path: Path) -> None:
    junk = tmp_path / CLIENT
    junk.write_text("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n")
    assert_refused(pki, junk, ["format"])


# ----- good CSRs: the node's own script, then sign


@pytest.fixture
def node(tmp_path: Path) -> Path:
    """node01's keys and CSRs, made by bash running `export --node node01`."""
    need_program("openssl")
    script = tmp_path / "node01.sh"
    assert run_cli("export", "--node", "node01", "-o", str(script)).returncode == 0
    folder = tmp_path / "node01"
    folder.mkdir()
    subprocess.run(["bash", str(script)], cwd=folder, check=True, capture_output=True, timeout=120)
    return folder


def test_good_csrs_are_signed_with_runs_own_command(pki: Path, node: Path) -> None:
    csrs = {p.name: p.read_bytes() for p in node.glob("*.csr")}
    assert sorted(csrs) == [CLIENT, SERVING]
    dry = run_cli("sign", str(node), "--out", str(pki), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    before = snapshot(pki)
    done = run_cli("sign", str(node), "--out", str(pki))
    assert done.returncode == 0, done.stderr
    log = (pki / "commands.sh").read_text()
    dry_run = run_cli("run", "kubelet-client-node01", "kubelet-node01", "--dry-run")
    for step in ("kubelet-client-node01", "kubelet-node01"):
        x509_line = (
            f"openssl x509 -req -in {step}.csr -CA ca.crt -CAkey ca.key -days 365 "
            f"-extfile {step}.cnf -extensions v3_req -out {step}.crt"
        )
        assert x509_line in dry_run.stdout.splitlines()  # run's own command for the row
        assert x509_line in dry.stdout.splitlines()  # printed by sign's dry run
        assert x509_line in log.splitlines()  # logged
        # the CSR is the node's, byte for byte, and the certificate carries its key
        assert (pki / f"{step}.csr").read_bytes() == csrs[f"{step}.csr"]
        cert = load_cert(pki / f"{step}.crt")
        csr = x509.load_pem_x509_csr(csrs[f"{step}.csr"])
        assert csr_policy.spki(cert.public_key()) == csr_policy.spki(csr.public_key())
        assert openssl_verify(pki / "ca.crt", pki / f"{step}.crt").returncode == 0
        assert not (pki / f"{step}.key").exists()  # the key never came here
    assert {p.name: p.read_bytes() for p in node.glob("*.csr")} == csrs  # never rewritten
    assert set(snapshot(pki)) - set(before) >= {CLIENT, SERVING}
    assert "kubelet-client-node01.key" not in "".join(snapshot(pki))


def test_signed_from_a_csr_is_built_for_run_and_verify(pki: Path, node: Path) -> None:
    assert run_cli("sign", str(node), "--out", str(pki)).returncode == 0
    signed = snapshot(pki)
    again = run_cli("sign", str(node), "--out", str(pki))
    assert again.returncode == 0 and "already signed" in again.stderr
    assert snapshot(pki) == signed
    # run neither re-signs nor makes a key for the steps sign made
    done = run_cli("run", "ca", "kubelet-client-node01", "kubelet-node01", "--out", str(pki))
    assert done.returncode == 0, done.stderr
    assert "3 skipped" in done.stdout
    after = snapshot(pki)
    assert {k: v for k, v in after.items() if k != "commands.sh"} == {
        k: v for k, v in signed.items() if k != "commands.sh"
    }
    verified = run_cli("verify", "--out", str(pki), "--json")
    mine = [
        c
        for c in json.loads(verified.stdout)["checks"]
        if c["file"].endswith((".crt", ".csr", ".key"))
        and c["file"].rsplit(".", 1)[0] in ("kubelet-client-node01", "kubelet-node01")
    ]
    assert {c["check"] for c in mine} >= {"chain", "key-elsewhere", "subjectAltName"}
    assert all(c["ok"] for c in mine), [c for c in mine if not c["ok"]]
    # --force re-signs the node's CSR (new serial) and still makes no key and no CSR
    cert = (pki / "kubelet-node01.crt").read_bytes()
    forced = run_cli("run", "kubelet-node01", "--force", "--out", str(pki))
    assert forced.returncode == 0, forced.stderr
    assert (pki / "kubelet-node01.crt").read_bytes() != cert
    assert (pki / SERVING).read_bytes() == (node / SERVING).read_bytes()
    assert not (pki / "kubelet-node01.key").exists()
    refused = run_cli("run", "kubelet-node01", "--force", "--new-keys", "--out", str(pki))
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert not (pki / "kubelet-node01.key").exists()


def test_a_different_csr_for_a_signed_step_is_refused(
    pki: Path, node: Path, keys: Path, tmp_path: Path
) -> None:
    assert run_cli("sign", str(node / CLIENT), "--out", str(pki)).returncode == 0
    other = make_csr(tmp_path / "other", CLIENT, keys / "node.key", NODE_SUBJECT)
    assert_refused(pki, other, [f"{CLIENT} in the folder holds another CSR; it is never "
                                "overwritten"])  # fmt: skip


def test_a_run_made_step_is_never_signed_over(pki: Path, node: Path) -> None:
    assert run_cli("run", "kubelet-client-node01", "--out", str(pki), "-q").returncode == 0
    assert_refused(pki, node / CLIENT, [f"{CLIENT.replace('.csr', '.key')} is in the folder "
                                        "and is not this CSR's key"])  # fmt: skip


def test_the_policy_is_the_recipes_row() -> None:
    """The allowed subject, SANs and usages are the row's, with keyEncipherment only for RSA."""
    recipe = load_recipe("kubernetes")
    values = resolve_variables(recipe, ["node_ips=node01=10.0.0.11", "key_type=ecdsa"])
    plan = build_plan(recipe, values)
    serving = csr_policy.allowed(plan.step("kubelet-node01").spec)
    assert serving.subject == (("CN", "system:node:node01"), ("O", "system:nodes"))
    assert (serving.sans.dns, serving.sans.ips) == (("node01",), ("10.0.0.11",))
    assert serving.key_usage == ("digitalSignature",)
    assert serving.extended_key_usage == ("serverAuth",)
    client = csr_policy.allowed(plan.step("kubelet-client-node01").spec)
    assert (client.sans.dns, client.sans.ips, client.extended_key_usage) == (
        (),
        (),
        ("clientAuth",),
    )
