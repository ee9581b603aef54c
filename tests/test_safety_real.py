"""Re-runs, --force, --replace-ca and renew on a real PKI: keys are never lost, the CA key never
changes unless asked, and every certificate still verifies (cryptography + openssl verify)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kpki_openssl.base import openssl_version
from kpki_openssl.base.errors import KpkiError
from tests.conftest import REPO, need_program, run_cli, run_cli_process
from tests.expected import CAS
from tests.oracle import key_matches, load_cert, openssl_verify, sans, subject_pairs, verifying_cas

FAST = ("--set", "key_size=1024", "--set", "nodes=n1", "--quiet")


def public_der(cert_or_key) -> bytes:
    return cert_or_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def every_cert_verifies(out: Path) -> list[str]:
    """Names of the certificates in `out`, each checked by openssl (under exactly one of the
    recipe's CAs) and cryptography."""
    names = []
    for crt in sorted(out.glob("*.crt")):
        (signer,) = verifying_cas(out, crt, CAS)
        cert = load_cert(crt)
        if crt.stem not in CAS:
            cert.verify_directly_issued_by(load_cert(out / f"{signer}.crt"))
        assert key_matches(cert, crt.with_suffix(".key")), crt.name
        names.append(crt.stem)
    return names


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    need_program("openssl")
    out = tmp_path_factory.mktemp("safety") / "pki"
    done = run_cli("run", "all", "--out", str(out), "--set", "days=30", *FAST)
    assert done.returncode == 0, done.stderr
    return out


def test_ca_key_never_changes_across_reruns_force_and_renew(pki: Path) -> None:
    ca_key = (pki / "ca.key").read_bytes()
    ca_public = public_der(load_cert(pki / "ca.crt"))
    leaf_keys = {p.name: p.read_bytes() for p in pki.glob("*.key")}
    old_admin = pki.parent / "admin-before-renew.crt"
    old_admin.write_bytes((pki / "admin.crt").read_bytes())
    old_ca_serial = load_cert(pki / "ca.crt").serial_number

    again = run_cli("run", "all", "--out", str(pki), "--set", "days=30", *FAST)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{pki}: 0 steps run, ")
    assert (pki / "ca.key").read_bytes() == ca_key

    forced = run_cli("run", "all", "--force", "--out", str(pki), "--set", "days=30", *FAST)
    assert forced.returncode == 0, forced.stderr
    assert (pki / "ca.key").read_bytes() == ca_key
    assert {p.name: p.read_bytes() for p in pki.glob("*.key")} == leaf_keys  # keys kept
    assert load_cert(pki / "admin.crt").serial_number != load_cert(old_admin).serial_number
    assert load_cert(pki / "ca.crt").serial_number == old_ca_serial  # --force leaves the CA

    renewed = run_cli("renew", "all", "--out", str(pki), "--set", "days=90", *FAST)
    assert renewed.returncode == 0, renewed.stderr
    assert "15 renewed" in renewed.stdout  # 3 CAs and 12 leaves (one node)
    assert (pki / "ca.key").read_bytes() == ca_key
    assert {p.name: p.read_bytes() for p in pki.glob("*.key")} == leaf_keys
    ca = load_cert(pki / "ca.crt")
    assert public_der(ca) == ca_public and ca.serial_number != old_ca_serial
    # a leaf issued before the CA was renewed still verifies against the renewed CA
    load_cert(old_admin).verify_directly_issued_by(ca)
    assert openssl_verify(pki / "ca.crt", old_admin).returncode == 0
    # renew: same subject and SANs, new validity (90 days from the command line)
    api = load_cert(pki / "apiserver.crt")
    assert (api.not_valid_after_utc - api.not_valid_before_utc) == dt.timedelta(days=90)
    assert subject_pairs(api) == [("CN", "kube-apiserver")]
    assert sans(api)[1] == ["10.96.0.1", "172.17.0.87"]
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc) == dt.timedelta(days=3650)
    assert len(every_cert_verifies(pki)) == 15  # 3 CAs and 12 leaves (one node)
    log = (pki / "commands.sh").read_text()
    assert "\nopenssl x509 -req -in ca.csr -signkey ca.key -days 3650 " in log
    assert log.count("openssl genrsa -out ca.key ") == 1


def test_renew_dry_run_shows_the_commands_and_writes_nothing(pki: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in pki.iterdir()}
    done = run_cli("renew", "apiserver", "--dry-run", "--out", str(pki), *FAST)
    assert done.returncode == 0, done.stderr
    commands = [ln for ln in done.stdout.splitlines() if ln.startswith("openssl ")]
    assert commands == [
        "openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -days 365 "
        "-extfile apiserver.cnf -extensions v3_req -out apiserver.crt"
    ]
    assert {p.name: p.stat().st_mtime_ns for p in pki.iterdir()} == before


def test_changed_inputs_are_reported_not_rebuilt(tmp_path: Path) -> None:
    """Its own folder: on the module's `pki` it depended on the validity an earlier test had
    renewed it to (alone it also saw 'validity differs')."""
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "apiserver", "--out", str(out), *FAST).returncode == 0
    before = (out / "apiserver.crt").read_bytes()
    sans_changed = ("--set", "apiserver_ips=10.96.0.1")
    done = run_cli("run", "ca", "apiserver", "--out", str(out), *sans_changed, *FAST)
    assert done.returncode == 3, done.stderr
    assert (
        "kpki-openssl: changed: apiserver (SANs: -IP:172.17.0.87) — use --force to re-issue\n"
        in done.stderr
    )
    assert (out / "apiserver.crt").read_bytes() == before
    forced = run_cli("run", "apiserver", "--force", "--out", str(out), *sans_changed, *FAST)
    assert forced.returncode == 0, forced.stderr
    assert sans(load_cert(out / "apiserver.crt"))[1] == ["10.96.0.1"]
    assert openssl_verify(out / "ca.crt", out / "apiserver.crt").returncode == 0


def test_a_certificate_without_its_key_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "admin", "--out", str(out), *FAST).returncode == 0
    (out / "admin.key").unlink()
    cert = (out / "admin.crt").read_bytes()
    done = run_cli("run", "ca", "admin", "--out", str(out), *FAST)
    assert done.returncode == 3
    assert "changed: admin (admin.key is missing) — use --force --new-keys" in done.stderr
    assert (out / "admin.crt").read_bytes() == cert and not (out / "admin.key").exists()
    renewed = run_cli("run", "admin", "--force", "--new-keys", "--out", str(out), *FAST)
    assert renewed.returncode == 0, renewed.stderr
    assert key_matches(load_cert(out / "admin.crt"), out / "admin.key")


def test_a_broken_key_is_refused_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "--out", str(out), *FAST).returncode == 0
    (out / "admin.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n")  # truncated
    done = run_cli("run", "admin", "--out", str(out), *FAST)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "is not a complete PEM private key" in done.stderr
    assert (out / "admin.key").read_text() == "-----BEGIN PRIVATE KEY-----\nMIIE\n"
    assert not (out / "admin.crt").exists()


def test_replace_ca_keeps_the_old_one_and_reissues_what_it_signed(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--out", str(out), *FAST).returncode == 0
    old_key = (out / "ca.key").read_bytes()
    leaf_keys = {p.name: p.read_bytes() for p in out.glob("*.key") if p.name != "ca.key"}
    plain_force = run_cli("run", "all", "--force", "--out", str(out), *FAST)
    assert plain_force.returncode == 0 and (out / "ca.key").read_bytes() == old_key
    done = run_cli("run", "ca", "--replace-ca", "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr
    assert "replaced CA ca" in done.stdout and "no longer verify" in done.stdout
    assert (out / "ca.key").read_bytes() != old_key
    backups = list((out / ".kpki" / "replaced").glob("*/ca.key"))
    assert len(backups) == 1 and backups[0].read_bytes() == old_key
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert len(every_cert_verifies(out)) == 15  # every leaf of ca re-issued by the new CA
    assert {p.name: p.read_bytes() for p in out.glob("*.key") if p.name != "ca.key"} == leaf_keys


def test_renew_needs_a_built_certificate(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "--out", str(out), *FAST).returncode == 0
    named = run_cli("renew", "admin", "--out", str(out), *FAST)
    assert named.returncode == 1 and "admin.crt does not exist" in named.stderr
    every = run_cli("renew", "all", "--out", str(out), *FAST)
    assert every.returncode == 0 and "1 renewed, 14 not built yet" in every.stdout
    nothing = run_cli("renew", "all", "--out", str(tmp_path / "none"), *FAST)
    assert nothing.returncode == 1 and "no PKI here" in nothing.stderr
    assert not (tmp_path / "none").exists()


def test_renew_refuses_a_certificate_whose_key_is_gone(tmp_path: Path) -> None:
    """renew keeps the key: without it the renewed certificate could never be used."""
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "admin", "--out", str(out), *FAST).returncode == 0
    (out / "admin.key").unlink()
    before = (out / "admin.crt").read_bytes()
    done = run_cli("renew", "admin", "--out", str(out), *FAST)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "admin.key" in done.stderr and "Traceback" not in done.stderr
    assert (out / "admin.crt").read_bytes() == before


def test_modes_whatever_the_umask(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "kpki_openssl",
            "run",
            "ca",
            "admin",
            "admin.kubeconfig",
            "--out",
            str(out),
            *FAST,
        ],  # fmt: skip
        env=env,
        check=True,
        preexec_fn=lambda: os.umask(0),
        timeout=120,
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for key in ("ca.key", "admin.key", "admin.kubeconfig", ".kpki/record/ca.json"):
        assert stat.S_IMODE((out / key).stat().st_mode) == 0o600, key
    assert stat.S_IMODE((out / ".kpki").stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "admin.crt").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "banner, found",
    [
        ("OpenSSL 1.0.2k-fips  26 Jan 2017", "found OpenSSL 1.0.2k-fips"),
        ("OpenSSL 1.1.1w  11 Sep 2023", "found OpenSSL 1.1.1w"),
        ("LibreSSL 3.3.6", "found LibreSSL 3.3.6"),
        ("BoringSSL", "cannot tell its version"),
    ],
)
def test_old_openssl_is_refused_naming_the_version(tmp_path: Path, banner: str, found: str) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "openssl").write_text(f'#!/bin/sh\necho "{banner}"\n')
    (fake / "openssl").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    done = run_cli_process("run", "all", "--out", str(tmp_path / "pki"), env=env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and found in done.stderr, done.stderr
    assert "needs OpenSSL 3.0 or newer" in done.stderr
    assert not (tmp_path / "pki").exists()


def test_version_parsing() -> None:
    assert openssl_version.check("OpenSSL 3.0.19 27 Jan 2026 (Library: ...)\n") == (3, 0, 19)
    assert openssl_version.check("OpenSSL 3.5.0 8 Apr 2025") == (3, 5, 0)
    with pytest.raises(KpkiError, match="found OpenSSL 1.1.1w"):
        openssl_version.check("OpenSSL 1.1.1w  11 Sep 2023")
    with pytest.raises(KpkiError, match="cannot tell"):
        openssl_version.check("")


def test_what_openssl_writes_is_said_for_the_version_in_use() -> None:
    """3.0 and 3.1 write v1 from x509 -req without extensions, 3.2 and later v3; each text
    says which this one is and names the other (test_claims_real checks both with openssl)."""
    done = subprocess.run([need_program("openssl"), "version"], capture_output=True, text=True)
    assert openssl_version.in_use() == openssl_version.check(done.stdout)
    for version, this, other in (((3, 1, 7), "v1", "v3"), ((3, 5, 9), "v3", "v1")):
        said = openssl_version.bare_certificate(version)
        assert said.startswith(f"a {this} certificate") and f"write {other}" in said
        assert f"OpenSSL {'.'.join(map(str, version))} here" in said
        leaves = openssl_version.bare_ca_leaves(version)
        assert f"writes such a CA as {this}" in leaves and f"write it as {other}" in leaves
    unknown = openssl_version.bare_ca_leaves(None)
    assert "3.0 and 3.1 write such a CA as v1" in unknown and "3.2 and later" in unknown
    assert " here" not in openssl_version.bare_certificate(None)


def test_a_second_writer_is_stopped_with_a_clear_message(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    (out / ".kpki").mkdir(parents=True)
    with open(out / ".kpki" / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        done = run_cli("run", "all", "--out", str(out), *FAST)
    assert done.returncode == 1
    assert done.stderr == (
        f"kpki-openssl: error: {out}: another kpki-openssl (pid 4242) is writing here; "
        "wait for it to finish, then run again\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [".kpki"]


def test_a_key_without_its_certificate_is_kept_and_finished(tmp_path: Path) -> None:
    """The state a kill between the key's rename and the certificate's leaves: resumable."""
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "--out", str(out), *FAST).returncode == 0
    subprocess.run(
        ["openssl", "genrsa", "-out", str(out / "admin.key"), "1024"],
        check=True,
        capture_output=True,
    )
    key = (out / "admin.key").read_bytes()
    done = run_cli("run", "admin", "--out", str(out), "--set", "key_size=1024", "--set", "nodes=n1")
    assert done.returncode == 0, done.stderr
    assert "keep  admin.key (exists; a key is never replaced)" in done.stderr
    assert (out / "admin.key").read_bytes() == key
    assert key_matches(load_cert(out / "admin.crt"), out / "admin.key")
    assert openssl_verify(out / "ca.crt", out / "admin.crt").returncode == 0


def test_dry_run_in_a_built_folder_shows_exactly_what_run_does(tmp_path: Path) -> None:
    """The dry run in a built folder still prints the whole plan; each step's comment says what
    run would do, and the commands of the steps it would run are exactly what run then runs."""
    out = tmp_path / "pki"
    assert run_cli("run", "ca", "admin", "--out", str(out), *FAST).returncode == 0
    (out / "admin.crt").unlink()  # as a kill between the key's rename and the certificate's
    dry = run_cli("run", "all", "--dry-run", "--out", str(out), *FAST)
    assert dry.returncode == 0, dry.stderr
    fresh = run_cli("run", "all", "--dry-run", "--out", str(tmp_path / "none"), *FAST)
    every = [ln for ln in fresh.stdout.splitlines() if ln.startswith("openssl ")]
    assert [ln for ln in dry.stdout.splitlines() if ln.startswith("openssl ")] == every
    assert re.search(r"^# in .*: run would do \d+ of these steps and leave 1 as", dry.stdout, re.M)
    sections = re.split(r"^# ===== step ", dry.stdout, flags=re.M)[1:]
    by_step = {sec.split(":", 1)[0]: sec for sec in sections}
    assert "\n# run would skip it: already built\n" in by_step["ca"]
    assert "\n# run would run it, keeping admin.key (a key is never replaced)\n" in by_step["admin"]
    would = [
        ln
        for sec in sections
        if "\n# run would run it" in sec
        for ln in sec.splitlines()
        if ln.startswith("openssl ") and ln != "openssl genrsa -out admin.key 1024"
    ]
    log_before = (out / "commands.sh").read_text()
    assert run_cli("run", "all", "--out", str(out), *FAST).returncode == 0
    new = (out / "commands.sh").read_text()[len(log_before) :]
    ran = [ln for ln in new.splitlines() if ln.startswith("openssl ")]
    assert ran == would  # one plan: dry-run marked exactly the commands run executed
    assert not any(" ca.csr" in ln for ln in ran)


def embedded_client_cert(kubeconfig: Path) -> bytes:
    import base64

    import yaml

    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    return base64.b64decode(user["client-certificate-data"])


def test_renew_and_force_remake_the_kubeconfigs_that_embed_them(tmp_path: Path) -> None:
    need_program("kubectl")
    out = tmp_path / "pki"
    embed = ("--set", "embed_certs=yes")
    assert run_cli("run", "all", "--out", str(out), *embed, *FAST).returncode == 0
    kubeconfig = out / "admin.kubeconfig"
    assert embedded_client_cert(kubeconfig) == (out / "admin.crt").read_bytes()
    old = (out / "admin.crt").read_bytes()
    renewed = run_cli("renew", "admin", "--out", str(out), *embed, *FAST)
    assert renewed.returncode == 0, renewed.stderr
    assert "2 renewed" in renewed.stdout  # admin.crt, then admin.kubeconfig made again
    assert (out / "admin.crt").read_bytes() != old
    assert embedded_client_cert(kubeconfig) == (out / "admin.crt").read_bytes()
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    forced = run_cli("run", "admin", "--force", "--out", str(out), *embed, *FAST)
    assert forced.returncode == 0, forced.stderr
    assert embedded_client_cert(kubeconfig) == (out / "admin.crt").read_bytes()
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    again = run_cli("run", "all", "--out", str(out), *embed, *FAST)
    assert again.returncode == 0 and ": 0 steps run, " in again.stdout, again.stderr


def test_renew_clears_what_check_expiration_warns_about(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    sets = ("--set", "key_size=1024", "--set", "nodes=n1")
    assert (
        run_cli("run", "all", "--quiet", "--out", str(out), "--set", "days=20", *sets).returncode
        == 0
    )
    before = run_cli("check-expiration", "--out", str(out), "--warn-days", "30")
    assert before.returncode == 1 and "admin.crt" in before.stderr
    renewed = run_cli("renew", "all", "--quiet", "--out", str(out), *sets)  # days: 365
    assert renewed.returncode == 0, renewed.stderr
    after = run_cli("check-expiration", "--out", str(out), "--warn-days", "30")
    assert after.returncode == 0, after.stderr
    again = run_cli("run", "all", "--out", str(out), *sets)  # the recipe's days: nothing to do
    assert again.returncode == 0 and ": 0 steps run, " in again.stdout, again.stderr
    checked = run_cli("verify", "--out", str(out), *sets)
    assert checked.returncode == 0, checked.stdout + checked.stderr
