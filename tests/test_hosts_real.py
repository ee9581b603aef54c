"""`export --host HOST` run by bash, with the real `install`, into a scratch root: each host gets
its files with their modes, every file its component files name is there, and no node holds a
signing key. Which keys sign is decided by `cryptography` from the CA certificates and sa.pub,
not from our plan."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import load_pem_x509_certificate

from kpki_openssl.cli import main as cli_main
from tests.conftest import need_program, run_cli
from tests.expected import CAS, NODES

pytestmark = pytest.mark.real
HOSTS = ("controlplane", "etcdpeer1", *NODES)
OURS = (".crt", ".key", ".pub", ".kubeconfig", ".flags", ".yaml")


def public_der(key) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def signing_keys(pki: Path) -> dict[bytes, str]:
    """The public halves of every key that signs: the CAs' and the service-account key."""
    out = {
        public_der(load_pem_x509_certificate((pki / f"{ca}.crt").read_bytes()).public_key()): ca
        for ca in CAS
    }
    sa = serialization.load_pem_public_key((pki / "sa.pub").read_bytes())
    out[public_der(sa)] = "sa"
    return out


def installed(root: Path) -> dict[str, Path]:
    return {"/" + str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


def named_paths(path: Path) -> list[str]:
    """The host paths a component file or kubeconfig names (kubeconfig names resolve from its
    own folder)."""
    text = path.read_text()
    if path.suffix == ".flags":
        values = [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith("--")]
        return [v for v in values if v.startswith("/")]
    doc = yaml.safe_load(text)
    strings: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            strings.append(node)

    walk(doc)
    if doc.get("kind") == "Config":  # relative names too: they resolve from its folder
        return [s for s in strings if s.endswith(OURS)]
    return [s for s in strings if s.startswith("/") and s.endswith(OURS)]


@pytest.mark.parametrize("host", HOSTS)
def test_export_host_installs_what_the_host_needs(
    built_pki: Path, tmp_path: Path, host: str
) -> None:
    need_program("install")
    script = tmp_path / f"{host}.sh"
    assert cli_main(["export", "--host", host, "-o", str(script)]) == 0
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\nset -euo pipefail\n")
    root = tmp_path / "root"
    done = subprocess.run(
        ["bash", str(script), str(root)],
        cwd=built_pki,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    assert done.returncode == 0, done.stderr
    files = installed(root)
    assert files, "nothing installed"
    for where, path in files.items():
        mode = stat.S_IMODE(path.stat().st_mode)
        secret = where.endswith((".key", ".kubeconfig"))
        assert mode == (0o600 if secret else 0o644), (where, oct(mode))
        # the same bytes as the output folder's file
        assert path.read_bytes() == (built_pki / path.name).read_bytes(), where
    # every file a component file or kubeconfig of this host names is there
    for where, path in files.items():
        if not where.endswith((".flags", ".yaml", ".kubeconfig")):
            continue
        for named in named_paths(path):
            target = named if named.startswith("/") else str(Path(where).parent / named)
            assert target in files, f"{where} names {named}, not installed on {host}"
    # no node holds a signing key; the control plane holds the cluster CA's and sa.key
    signers = signing_keys(built_pki)
    held = set()
    for where, path in files.items():
        data = path.read_bytes()
        if b"PRIVATE KEY" in data and not where.endswith(".kubeconfig"):
            key = load_pem_private_key(data, password=None)
            if public_der(key.public_key()) in signers:
                held.add(signers[public_der(key.public_key())])
    if host in NODES:
        assert held == set(), held
        assert f"/var/lib/kubelet/kubelet-{host}.key" in files
    elif host == "controlplane":
        assert held == {"ca", "sa"}, held  # cluster signing and service-account tokens
    else:
        assert held == set(), held


def test_export_host_quotes_and_defaults_to_slash(tmp_path: Path) -> None:
    script = tmp_path / "n.sh"
    assert cli_main(["export", "--host", "node01", "-o", str(script)]) == 0
    lines = [ln for ln in script.read_text().splitlines() if ln.startswith("put ")]
    assert 'root="${1:-/}"' in script.read_text()
    assert "put 0600 kubelet-node01.key /var/lib/kubelet/kubelet-node01.key" in lines


# ----- host paths never leave the root -----

HOSTED = """\
name: hosted
variables:
  key_type: {default: ecdsa}
  days: {default: 30}
  ca_days: {default: 60}
profiles:
  ca: {ca: true, key_usage: [keyCertSign, cRLSign, digitalSignature]}
  server: {key_usage: [digitalSignature], extended_key_usage: [serverAuth]}
certificates:
  - {name: ca, profile: ca, subject: {CN: hosted-ca}}
  - {name: apiserver, ca: ca, profile: server, subject: {CN: kube-apiserver},
     sans: {dns: [kube-apiserver]}}
components:
  - file: kube-apiserver.flags
    program: kube-apiserver
    hosts: [controlplane]
    host_dir: HOST_DIR
    flags: {--client-ca-file: "CA_PATH", --tls-cert-file: /var/lib/kubernetes/apiserver.crt}
"""


def hosted(tmp_path: Path, ca_path: str, host_dir: str = "/var/lib/kubernetes") -> Path:
    recipe = tmp_path / "hosted.yaml"
    recipe.write_text(HOSTED.replace("CA_PATH", ca_path).replace("HOST_DIR", host_dir))
    return recipe


@pytest.mark.parametrize(
    ("ca_path", "host_dir", "named"),
    [
        ("/var/lib/kubernetes/../../../../etc/ca.crt", "/var/lib/kubernetes", "climbs above /"),
        ("/../ca.crt", "/var/lib/kubernetes", "climbs above /"),
        ("/var/lib/kubernetes/ca.crt", "/var/../../etc", "not an absolute path"),
        ("/var/lib/kubernetes/ca.crt", "var/lib", "not an absolute path"),
    ],
)
def test_a_host_path_that_leaves_the_root_is_refused(
    tmp_path: Path, ca_path: str, host_dir: str, named: str
) -> None:
    recipe = str(hosted(tmp_path, ca_path, host_dir))
    script = tmp_path / "cp.sh"
    for argv in (["hosts"], ["hosts", "--json"], ["export", "--host", "controlplane"]):
        done = (
            run_cli(*argv, "--recipe", recipe, "-o", str(script))
            if "export" in argv
            else (run_cli(*argv, "--recipe", recipe))
        )
        assert done.returncode == 2, done.stdout
        assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
        assert not script.exists()


def test_host_paths_are_normalised_and_links_cannot_carry_a_file_out(tmp_path: Path) -> None:
    """'.', '//' and 'dir/..' are resolved as the layout is worked out; a link planted under
    the scratch root that leads elsewhere stops the script before it writes anything there."""
    need_program("openssl")
    need_program("install")
    need_program("realpath")
    recipe = str(hosted(tmp_path, "/var/lib/./kubernetes//pki/../ca.crt"))
    pki = tmp_path / "pki"
    assert run_cli("run", "all", "--quiet", "--recipe", recipe, "--out", str(pki)).returncode == 0
    listing = run_cli("hosts", "--json", "--recipe", recipe)
    paths = {f["path"] for h in json.loads(listing.stdout)["hosts"] for f in h["files"]}
    assert "/var/lib/kubernetes/ca.crt" in paths and all("/." not in p for p in paths), paths
    script = tmp_path / "cp.sh"
    assert run_cli("export", "--host", "controlplane", "--recipe", recipe, "-o", str(script)) \
        .returncode == 0  # fmt: skip
    assert subprocess.run(["bash", "-n", str(script)], timeout=60).returncode == 0

    def install(root: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(script), str(root)], cwd=pki, capture_output=True, text=True, timeout=60
        )

    root = tmp_path / "root"
    done = install(root)
    assert done.returncode == 0, done.stderr
    assert sorted(installed(root)) == sorted(paths)
    # a link under the root to a folder outside it
    outside = tmp_path / "outside"
    outside.mkdir()
    trap = tmp_path / "trap"
    (trap / "var" / "lib").mkdir(parents=True)
    (trap / "var" / "lib" / "kubernetes").symlink_to(outside)
    done = install(trap)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "outside" in done.stderr, done.stderr
    assert list(outside.iterdir()) == []
