"""The bundled recipe's PKI, built three ways (run, exported script, replayed log), checked with
`cryptography` and `openssl verify -x509_strict`: real openssl, independent oracles."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.expected import CAS, COMPONENT_FILES, KEYPAIRS, KUBECONFIGS, LEAVES, SIGNERS
from tests.oracle import (
    CLIENT_AUTH,
    SERVER_AUTH,
    assert_is_ca,
    assert_is_leaf,
    eku,
    key_matches,
    load_cert,
    openssl_verify,
    sans,
    subject_pairs,
)

ROLE_EKU = {"client": {CLIENT_AUTH}, "server": {SERVER_AUTH}, "both": {SERVER_AUTH, CLIENT_AUTH}}


@pytest.fixture(scope="session")
def exported_pki(tmp_path_factory) -> Path:
    """The exported script, run by bash in an empty folder."""
    folder = tmp_path_factory.mktemp("exported")
    script = folder / "build.sh"
    done = run_cli("export", "-o", str(script))
    assert done.returncode == 0, done.stderr
    out = folder / "pki"
    out.mkdir()
    subprocess.run(["bash", str(script)], cwd=out, check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="session")
def replayed_pki(built_pki: Path, tmp_path_factory) -> Path:
    """The command log of a real run, replayed by bash in an empty folder."""
    out = tmp_path_factory.mktemp("replayed")
    shutil.copy(built_pki / "commands.sh", out / "commands.sh")
    subprocess.run(["bash", "commands.sh"], cwd=out, check=True, capture_output=True, timeout=120)
    (out / "commands.sh").unlink()
    return out


@pytest.fixture(params=["run", "export", "replay"])
def pki(request) -> Path:
    return request.getfixturevalue(
        {"run": "built_pki", "export": "exported_pki", "replay": "replayed_pki"}[request.param]
    )


def test_ca_is_a_ca_valid_ten_years(pki: Path) -> None:
    ca = load_cert(pki / "ca.crt")
    assert_is_ca(ca)
    assert subject_pairs(ca) == [("CN", "KUBERNETES-CA")]
    assert ca.issuer == ca.subject
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == dt.timedelta(days=3650)
    assert key_matches(ca, pki / "ca.key")


@pytest.mark.parametrize("name, cn", [("etcd-ca", "etcd-ca"), ("front-proxy-ca", "front-proxy-ca")])
def test_etcd_and_front_proxy_have_their_own_ca(pki: Path, name: str, cn: str) -> None:
    ca = load_cert(pki / f"{name}.crt")
    assert_is_ca(ca)
    assert subject_pairs(ca) == [("CN", cn)] and ca.issuer == ca.subject
    assert key_matches(ca, pki / f"{name}.key")


@pytest.mark.parametrize("base", sorted(LEAVES))
def test_leaf(pki: Path, base: str) -> None:
    subject, role, dns, ips = LEAVES[base]
    signer = SIGNERS.get(base, "ca")
    ca = load_cert(pki / f"{signer}.crt")
    cert = load_cert(pki / f"{base}.crt")
    assert_is_leaf(cert, ca)
    verified = openssl_verify(pki / f"{signer}.crt", pki / f"{base}.crt")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for other in set(CAS) - {signer}:  # and no other CA vouches for it
        assert openssl_verify(pki / f"{other}.crt", pki / f"{base}.crt").returncode != 0, other
    assert subject_pairs(cert) == subject
    assert eku(cert) == ROLE_EKU[role]
    assert sans(cert) == (dns, ips)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=365)
    assert key_matches(cert, pki / f"{base}.key")


def test_every_key_is_private(pki: Path) -> None:
    keys = sorted(pki.glob("*.key"))
    assert len(keys) == len(CAS) + len(LEAVES) + len(KEYPAIRS)
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name


def test_nothing_unexpected(pki: Path) -> None:
    """Exactly the document's files: key, csr, crt (and our .cnf) per certificate, then the
    kubeconfigs and component files."""
    bases = {*CAS, *LEAVES}
    files = {"commands.sh", *KUBECONFIGS, *COMPONENT_FILES, "sa.key", "sa.pub"}
    for path in pki.iterdir():
        if path.name in files:
            continue
        if path.name == ".kpki":  # the lock and one build record per step; no leftovers
            assert sorted(p.name for p in path.iterdir()) == ["lock", "record"]
            records = sorted(p.name for p in (path / "record").iterdir())
            steps = (*bases, *KEYPAIRS, *KUBECONFIGS, *COMPONENT_FILES)  # one record a step
            assert records == sorted(f"{n}.json" for n in steps)
            continue
        assert path.stem in bases and path.suffix in {".key", ".csr", ".crt", ".cnf"}, path.name


def test_run_folder_is_private(built_pki: Path) -> None:
    assert stat.S_IMODE(built_pki.stat().st_mode) == 0o700


def test_kubeconfigs_and_component_files_are_the_same_three_ways(
    pki: Path, built_pki: Path
) -> None:
    """run, the exported script and the replayed log write the same kubeconfigs and configs."""
    for name in [*KUBECONFIGS, *COMPONENT_FILES]:
        assert (pki / name).read_text() == (built_pki / name).read_text(), name
    for name in KUBECONFIGS:
        assert stat.S_IMODE((pki / name).stat().st_mode) == 0o600, name
