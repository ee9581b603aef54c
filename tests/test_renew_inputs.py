"""`renew` with inputs that are not what the recipe asks for: a CA key that is not ca.crt's, a
CSR of another key, another subject (O=system:masters) or other SANs, an edited .cnf. Each is
refused in one line before anything is signed: no certificate, log or record changes."""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kpki_openssl.cli import main as cli_main
from tests.conftest import need_program
from tests.safety_recipes import assert_complete_pki, tiny_recipe


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    need_program("openssl")
    root = tmp_path_factory.mktemp("renew-inputs")
    recipe = tiny_recipe(root)
    assert (
        cli_main(["run", "all", "--quiet", "--recipe", str(recipe), "--out", str(root / "pki")])
        == 0
    )
    return root


@pytest.fixture
def pki(built: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A fresh copy of the built folder, and the recipe."""
    out = tmp_path / "pki"
    shutil.copytree(built / "pki", out, symlinks=True)
    return out, built / "tiny.yaml"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def csr(key, subject: list[tuple], dns: list[str] = (), ips: list[str] = ()) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(oid, value) for oid, value in subject])
    )
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def own_key(out: Path, name: str):
    return serialization.load_pem_private_key((out / f"{name}.key").read_bytes(), None)


CN, ORG = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME
SERVER = [(CN, "kube-apiserver")]


def tamper_ca_key(out: Path) -> None:
    (out / "ca.key").write_bytes(pem_key(new_key()))


def tamper_other_key(out: Path) -> None:
    (out / "admin.csr").write_bytes(csr(new_key(), [(CN, "kube-admin"), (ORG, "system:masters")]))


def tamper_subject(out: Path) -> None:
    request = csr(own_key(out, "apiserver"), [*SERVER, (ORG, "system:masters")], ["kube-apiserver"])
    (out / "apiserver.csr").write_bytes(request)


def tamper_sans(out: Path) -> None:
    request = csr(
        own_key(out, "apiserver"), SERVER, ["kube-apiserver", "evil.example"], ["127.0.0.1"]
    )
    (out / "apiserver.csr").write_bytes(request)


def tamper_cnf(out: Path) -> None:
    cnf = out / "apiserver.cnf"
    cnf.write_text(cnf.read_text().replace("DNS.1 = kube-apiserver", "DNS.1 = evil.example"))


CASES = [
    (tamper_ca_key, "admin", "renew admin: ca.key does not match ca.crt (another public key)"),
    (tamper_ca_key, "ca", "renew ca: ca.key does not match ca.crt (another public key)"),
    (tamper_other_key, "admin", "renew admin: admin.csr is not admin.key's request"),
    (
        tamper_subject,
        "apiserver",
        "renew apiserver: apiserver.csr asks for subject /CN=kube-apiserver/O=system:masters, "
        "the recipe for /CN=kube-apiserver",
    ),
    (
        tamper_sans,
        "apiserver",
        "renew apiserver: apiserver.csr asks for SANs DNS:evil.example,DNS:kube-apiserver,"
        "IP:127.0.0.1, the recipe for DNS:kube-apiserver,IP:127.0.0.1",
    ),
    (tamper_cnf, "apiserver", "renew apiserver: apiserver.cnf is not the recipe's"),
]


def digest(out: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


@pytest.mark.parametrize(("tamper", "step", "message"), CASES)
def test_renew_refuses_inputs_that_are_not_the_recipes(
    pki: tuple[Path, Path], capsys, tamper, step: str, message: str
) -> None:
    out, recipe = pki
    tamper(out)
    before = digest(out)
    capsys.readouterr()
    code = cli_main(["renew", step, "--quiet", "--recipe", str(recipe), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith(f"kpki-openssl: error: {message}"), err
    assert err.rstrip().endswith("nothing was written") and err.count("\n") == 1, err
    assert digest(out) == before  # not the certificate, not the log, not the record


def test_renew_of_an_untouched_folder_still_signs(pki: tuple[Path, Path], capsys) -> None:
    """The checks pass on what run made: renew all works and the oracle verifies the result."""
    out, recipe = pki
    old = (out / "apiserver.crt").read_bytes()
    assert cli_main(["renew", "all", "--quiet", "--recipe", str(recipe), "--out", str(out)]) == 0
    assert (out / "apiserver.crt").read_bytes() != old
    assert_complete_pki(out)


def test_run_force_with_a_foreign_ca_key_installs_nothing(pki: tuple[Path, Path], capsys) -> None:
    out, recipe = pki
    tamper_ca_key(out)
    old = (out / "admin.crt").read_bytes()
    capsys.readouterr()
    code = cli_main(
        ["run", "admin", "--force", "--quiet", "--recipe", str(recipe), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and err.startswith("kpki-openssl: error: "), err
    assert (out / "admin.crt").read_bytes() == old
