"""The the-hard-way recipe: Kubernetes The Hard Way's certificate set, checked against what its
ca.conf specifies, and kubectl (Go's TLS) talking to an HTTPS server that uses its certificates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.conftest import need_program, run_cli
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
)
from tests.tls_server import mtls_server

BOTH = {CLIENT_AUTH, SERVER_AUTH}
PLACE = [("C", "US"), ("ST", "Washington"), ("L", "Seattle")]
# Written out by hand from the tutorial's ca.conf (its kube-scheduler O typo corrected).
LEAVES = {
    "admin": ([("CN", "admin"), ("O", "system:masters")], {CLIENT_AUTH}, ([], [])),
    "node-0": ([("CN", "system:node:node-0"), ("O", "system:nodes"), *PLACE], BOTH,
               (["node-0"], ["127.0.0.1"])),
    "node-1": ([("CN", "system:node:node-1"), ("O", "system:nodes"), *PLACE], BOTH,
               (["node-1"], ["127.0.0.1"])),
    "kube-proxy": ([("CN", "system:kube-proxy"), ("O", "system:node-proxier"), *PLACE], BOTH,
                   (["kube-proxy"], ["127.0.0.1"])),
    "kube-scheduler": ([("CN", "system:kube-scheduler"), ("O", "system:kube-scheduler"), *PLACE],
                       BOTH, (["kube-scheduler"], ["127.0.0.1"])),
    "kube-controller-manager": ([("CN", "system:kube-controller-manager"),
                                 ("O", "system:kube-controller-manager"), *PLACE], BOTH,
                                (["kube-controller-manager"], ["127.0.0.1"])),
    "kube-api-server": ([("CN", "kubernetes"), *PLACE], BOTH,
                        (["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster", "kubernetes.svc.cluster.local",
                          "server.kubernetes.local", "api-server.kubernetes.local"],
                         ["127.0.0.1", "10.32.0.1"])),
    "service-accounts": ([("CN", "service-accounts")], {CLIENT_AUTH}, ([], [])),
}  # fmt: skip


def pairs(cert) -> list[tuple[str, str]]:
    short = {"commonName": "CN", "organizationName": "O", "countryName": "C",
             "stateOrProvinceName": "ST", "localityName": "L"}  # fmt: skip
    return [(short[a.oid._name], a.value) for a in cert.subject]


@pytest.fixture(scope="module")
def hard_way(tmp_path_factory) -> Path:
    need_program("openssl")
    out = tmp_path_factory.mktemp("kthw") / "pki"
    # 2048-bit keys and path-form kubeconfigs keep the suite fast; the recipe's defaults are the
    # tutorial's 4096 and --embed-certs=true (embedding is tested with the kubeadm recipe)
    done = run_cli(
        "run", "all", "--quiet", "--recipe", "the-hard-way", "--out", str(out),
        "--set", "key_size=2048", "--set", "embed_certs=no",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_recipe_default_is_the_tutorials_key_size_and_validity() -> None:
    done = run_cli("run", "all", "--dry-run", "--recipe", "the-hard-way")
    assert done.returncode == 0, done.stderr
    assert "openssl genrsa -out ca.key 4096" in done.stdout
    assert "-days 3653" in done.stdout  # the CA; leaves 3650 so they end before it


def test_the_hard_way_certificates(hard_way: Path) -> None:
    ca = load_cert(hard_way / "ca.crt")
    assert_is_ca(ca)
    assert pairs(ca) == [*PLACE, ("CN", "CA")]
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == dt.timedelta(days=3653)
    assert sorted(p.stem for p in hard_way.glob("*.crt")) == sorted(["ca", *LEAVES])
    for base, (subject, usages, alt) in LEAVES.items():
        cert = load_cert(hard_way / f"{base}.crt")
        assert_is_leaf(cert, ca)
        assert openssl_verify(hard_way / "ca.crt", hard_way / f"{base}.crt").returncode == 0
        assert pairs(cert) == subject, base
        assert eku(cert) == usages, base
        assert sans(cert) == alt, base
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=3650)
        assert cert.not_valid_after_utc < ca.not_valid_after_utc  # within its CA
        assert key_matches(cert, hard_way / f"{base}.key")


@pytest.mark.real
def test_kubectl_trusts_the_api_server_and_presents_admin(hard_way: Path, tmp_path: Path) -> None:
    """kubectl (Go TLS) checks kube-api-server's SANs against the CA; the server (requiring a
    client certificate from the same CA) sees the admin's CN. kubectl's cache goes to the
    test's own HOME (conftest), never the user's ~/.kube (Debian 13's kubectl makes none)."""
    import subprocess

    kubectl = need_program("kubectl")
    (tmp_path / "none").write_text("")  # an empty kubeconfig: only the flags below count
    with mtls_server(
        hard_way / "kube-api-server.crt", hard_way / "kube-api-server.key", hard_way / "ca.crt"
    ) as port:

        def get(name: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [kubectl, "--kubeconfig", str(tmp_path / "none"),
                 "--server", f"https://127.0.0.1:{port}", "--tls-server-name", name,
                 "--certificate-authority", str(hard_way / "ca.crt"),
                 "--client-certificate", str(hard_way / "admin.crt"),
                 "--client-key", str(hard_way / "admin.key"),
                 "--request-timeout", "10s", "get", "--raw", "/healthz"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip

        for name in ("kubernetes.default", "server.kubernetes.local"):
            done = get(name)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == "ok admin"
        wrong = get("kubernetes.default.svc.cluster.local")  # not in the tutorial's SANs
        assert wrong.returncode != 0 and wrong.stdout == ""
    written = [p for p in tmp_path.rglob("*") if p != tmp_path / "none"]
    assert all((tmp_path / "home") in p.parents or p == tmp_path / "home" for p in written)


# The tutorial's kubeconfigs (docs/05-kubernetes-configuration-files.md), written out by hand:
# file -> (user, client certificate, server)
KUBECONFIGS = {
    "node-0.kubeconfig": ("system:node:node-0", "node-0", "https://server.kubernetes.local:6443"),
    "node-1.kubeconfig": ("system:node:node-1", "node-1", "https://server.kubernetes.local:6443"),
    "kube-proxy.kubeconfig": ("system:kube-proxy", "kube-proxy", "https://server.kubernetes.local:6443"),
    "kube-controller-manager.kubeconfig": ("system:kube-controller-manager", "kube-controller-manager",
                                           "https://server.kubernetes.local:6443"),
    "kube-scheduler.kubeconfig": ("system:kube-scheduler", "kube-scheduler",
                                  "https://server.kubernetes.local:6443"),
    "admin.kubeconfig": ("admin", "admin", "https://127.0.0.1:6443"),
}  # fmt: skip


def test_the_tutorials_kubeconfigs(hard_way: Path) -> None:
    import yaml

    assert sorted(p.name for p in hard_way.glob("*.kubeconfig")) == sorted(KUBECONFIGS)
    for name, (user, cert, server) in KUBECONFIGS.items():
        doc = yaml.safe_load((hard_way / name).read_text())
        assert doc["current-context"] == "default", name
        (ctx,) = doc["contexts"]
        assert ctx["context"] == {"cluster": "kubernetes-the-hard-way", "user": user}, name
        (cluster,) = doc["clusters"]
        assert cluster["cluster"]["server"] == server, name
        assert cluster["cluster"]["certificate-authority"] == "ca.crt", name
        (who,) = doc["users"]
        assert who["user"]["client-certificate"] == f"{cert}.crt", name
    text = run_cli("run", "all", "--dry-run", "--recipe", "the-hard-way").stdout
    assert "kubectl config set-credentials admin --client-certificate=admin.crt" in text
    assert "--embed-certs=true" in text  # the tutorial's form is the default


def test_the_hard_way_is_lint_clean_and_verifies(hard_way: Path) -> None:
    linted = run_cli("lint", "--recipe", "the-hard-way")
    assert linted.returncode == 0, linted.stdout
    verified = run_cli(
        "verify", "--quiet", "--recipe", "the-hard-way", "--out", str(hard_way),
        "--set", "key_size=2048", "--set", "embed_certs=no",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "all pass" in verified.stdout
