"""lint reads recipe data only: no program runs. Expected findings are written out by hand from
the document (its defects) and from the small recipes below, never read back from the recipe."""

from __future__ import annotations

import json

import pytest

from kpki_openssl.base.errors import InputError
from kpki_openssl.checks.lint import CHECKS, lint
from kpki_openssl.recipe.load import load_recipe, parse_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.conftest import run_cli


def findings_of(recipe, *sets: str) -> set[tuple[str, str]]:
    return {(f.where, f.check) for f in lint(recipe, resolve_variables(recipe, sets))}


def test_bundled_recipe_is_lint_clean() -> None:
    recipe = load_recipe("kubernetes")
    assert lint(recipe, resolve_variables(recipe)) == []
    done = run_cli("lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lint-clean" in done.stdout


NODES = ("node01", "node02", "node03")
ALL_ROWS = (
    "ca", "admin", "kube-scheduler", "kube-controller-manager", "kube-proxy", "etcdserver",
    "etcdpeer1", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client",
    *(f"kubelet-{n}" for n in NODES), *(f"kubelet-client-{n}" for n in NODES),
)  # fmt: skip
# The document's defects, each with the rows it affects.
DOCUMENT_DEFECTS = {
    ("ca", "ca-not-ca"),  # CA without CA:TRUE
    ("apiserver", "cnf-section"),  # openssl.cnf lacks [req_distinguished_name]
    ("apiserver", "extensions-dropped"),  # x509 -req without -extfile
    ("apiserver", "nonrepudiation-only"),  # keyUsage = nonRepudiation
    ("kubeconfig_server", "kubeconfig-host"),  # https://kube-apiserver:6443 not in the SANs
    *((row, "default-validity") for row in ALL_ROWS),  # no -days: 30 days
    *((row, "no-sans") for row in ("etcdserver", "etcdpeer1", "apiserver",
                                   *(f"kubelet-{n}" for n in NODES))),
    *((row, "identity") for row in ("kube-scheduler", "kube-controller-manager", "kube-proxy",
                                    *(f"kubelet-{n}" for n in NODES))),
    # the document's files, verbatim: tabs, ca.pem / apiserver.cr, ${...} placeholders
    ("kube-config.yaml", "not-yaml"),
    *((f, "unknown-file") for f in ("kubelet-client-config.yaml", "kube-apiserver.flags",
                                    "kubelet-config.yaml")),
    *((f, "shell-placeholder") for f in ("kubelet-client-config.yaml", "kubelet-config.yaml")),
}  # fmt: skip


def test_as_written_reports_each_of_the_documents_defects() -> None:
    found = findings_of(load_recipe("as-written"))
    assert found >= DOCUMENT_DEFECTS, sorted(DOCUMENT_DEFECTS - found)
    # right identities are not flagged: admin (system:masters), the kubelet clients
    for row in ("admin", *(f"kubelet-client-{n}" for n in NODES)):
        assert (row, "identity") not in found
    # every other finding is the leaves' missing extensions (no .cnf at all)
    rest = found - DOCUMENT_DEFECTS
    assert {check for _, check in rest} == {"no-extensions"}
    assert {row for row, _ in rest} == set(ALL_ROWS) - {"ca", "apiserver"}


def test_as_written_lint_cli_one_line_per_finding_and_json() -> None:
    done = run_cli("lint", "--recipe", "as-written")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert (
        "apiserver: extensions-dropped: x509 -req is not given -extfile openssl.cnf" in done.stdout
    )
    assert any(ln.startswith("kube-scheduler: identity: CN=kube-scheduler") for ln in lines)
    assert all(ln.split(": ")[1] in CHECKS for ln in lines)
    as_json = run_cli("lint", "--recipe", "as-written", "--json")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["recipe"] == "as-written" and doc["clean"] is False
    assert len(doc["findings"]) == len(lines)
    assert set(doc["findings"][0]) == {"where", "check", "problem"}


def test_as_written_dry_run_prints_the_documents_commands() -> None:
    done = run_cli("run", "all", "--dry-run", "--recipe", "as-written")
    assert done.returncode == 0, done.stderr
    commands = [ln for ln in done.stdout.splitlines() if ln.startswith("openssl ")]
    # the document's commands (shlex drops its quotes around -subj; nothing else differs)
    for line in [
        "openssl genrsa -out ca.key 2048",
        "openssl req -new -key ca.key -subj /CN=KUBERNETES-CA -out ca.csr",
        "openssl x509 -req -in ca.csr -signkey ca.key -out ca.crt",
        "openssl req -new -key admin.key -subj /CN=kube-admin/O=system:masters -out admin.csr",
        "openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -out admin.crt",
        "openssl req -new -key kube-scheduler.key -subj /CN=kube-scheduler/O=system:kube-scheduler -out kube-scheduler.csr",
        "openssl req -new -key etcdpeer1.key -subj /CN=etcdserver/O=system:etcdpeer1 -out etcdpeer1.csr",
        "openssl req -new -key apiserver.key -subj /CN=kube-apiserver -out apiserver.csr -config openssl.cnf",
        "openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -out apiserver.crt",
        "openssl req -new -key kubelet-node01.key -subj /CN=kubelet/O=system:nodes -out kubelet-node01.csr",
        "openssl x509 -req -in kubelet-node01.csr -CA ca.crt -CAkey ca.key -out kubelet-node01.crt",
        "openssl req -new -key kubelet-client-node01.key -subj /CN=system:node:node01/O=system:nodes -out kubelet-client-node01.csr",
    ]:
        assert line in commands, line
    assert not any("-days" in c or "-extfile" in c for c in commands)
    assert "keyUsage = nonRepudiation" in done.stdout


TINY = """
name: tiny
profiles:
  ca: {ca: true, key_usage: [keyCertSign, cRLSign]}
  client: {key_usage: [digitalSignature], extended_key_usage: [clientAuth]}
  server: {key_usage: [digitalSignature, keyEncipherment], extended_key_usage: [serverAuth]}
variables:
  days: {default: 100}
  ca_days: {default: 1000}
  key_size: {default: 2048}
  kubeconfig_server: {default: "https://10.0.0.1:6443"}
certificates:
  - {name: root, profile: ca, subject: {CN: root}}
  - {name: apiserver, ca: root, profile: server, subject: {CN: kube-apiserver},
     sans: {dns: [kubernetes], ip: [10.0.0.1]}}
"""


def tiny(rows: str = ""):
    return parse_recipe(TINY + rows)


def test_tiny_recipe_is_clean() -> None:
    assert findings_of(tiny()) == set()


@pytest.mark.parametrize(
    "rows, sets, expected",
    [
        ("  - {name: long, ca: root, profile: client, subject: {CN: long}, days: '5000'}\n",
         (), ("long", "outlives-ca")),
        ("  - {name: a, ca: root, profile: client, subject: {CN: a}, file: same}\n"
         "  - {name: b, ca: root, profile: client, subject: {CN: b}, file: same}\n",
         (), ("b", "duplicate-file")),
        ("", ("key_size=1024",), ("apiserver", "weak-key")),
        ("", ("kubeconfig_server=https://kube-apiserver:6443",), ("kubeconfig_server", "kubeconfig-host")),
        ("", ("kubeconfig_server=https://10.0.0.2:6443",), ("kubeconfig_server", "kubeconfig-host")),
        ("  - {name: sched, ca: root, profile: client, subject: {CN: kube-scheduler}}\n",
         (), ("sched", "identity")),
        ("  - {name: kubelet-client-n1, ca: root, profile: client, subject: {CN: 'system:node:n2', O: 'system:nodes'}}\n",
         (), ("kubelet-client-n1", "identity")),
        ("  - {name: web, ca: root, profile: server, subject: {CN: web}}\n", (), ("web", "no-sans")),
        ("  - name: web\n    ca: root\n    profile: server\n    subject: {CN: web}\n"
         "    cnf: {file: web.cnf, text: \"[req]\\ndistinguished_name = dn\\n[dn]\\n[v3_req]\\n"
         "keyUsage = digitalSignature\\nextendedKeyUsage = clientAuth\\nsubjectAltName = DNS:web\\n\"}\n",
         (), ("web", "usage-role")),
        ("  - {name: root2, profile: ca, subject: {CN: r2}, cnf: none}\n", (), ("root2", "ca-not-ca")),
    ],
)  # fmt: skip
def test_each_check_fires_on_its_fault(rows, sets, expected) -> None:
    found = findings_of(tiny(rows), *sets)
    assert expected in found, found


def test_kubeconfig_host_covered_by_dns_or_ip_is_clean() -> None:
    assert findings_of(tiny(), "kubeconfig_server=https://kubernetes:6443") == set()
    assert findings_of(tiny(), "kubeconfig_server=https://10.0.0.1") == set()


def test_a_recipe_no_run_would_accept_is_bad_input_not_clean() -> None:
    """A component naming a file no certificate makes: run refuses it, so lint may not call it
    lint-clean (it did: the plan's refusal was swallowed)."""
    recipe = tiny("components:\n  - {file: x.flags, flags: {--tls-cert-file: /etc/wbe.crt}}\n")
    with pytest.raises(InputError, match="'wbe.crt', which no certificate of this recipe makes"):
        lint(recipe, resolve_variables(recipe))
