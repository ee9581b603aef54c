"""Every sentence we print about what openssl, kubectl or curl does, checked against the program.

Each claim is quoted from where it is printed (lint's messages, the recipes' departures), so
rewording it without re-checking fails here; then the real program is run on certificates made
by the real openssl (EC keys: fast) behind a Python `ssl` mutual-TLS server on 127.0.0.1.
Where OpenSSL 3.0/3.1 and 3.2+ differ, lint says what the openssl on PATH does, and the test
checks that sentence against that openssl (CI runs this file with 3.0 and with 3.5).
The claims about etcd and etcdctl, and curl/kubectl against a missing SAN of apiserver.crt, are
checked by tests/test_prove.py, which starts etcd itself.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from kpki_openssl.base import openssl_version
from kpki_openssl.checks import lint as lint_module
from tests.conftest import REPO, need_program, run_cli
from tests.tls_server import mtls_server

pytestmark = pytest.mark.real

LINT = Path(lint_module.__file__).read_text()
RECIPE = (REPO / "recipes" / "kubernetes.yaml").read_text()


def printed(text: str) -> None:
    """The claim is still printed, word for word (lint's source, or the recipe)."""
    joined = re.sub(r'"\s*\n\s*f?"', "", LINT)  # adjacent string literals, as Python joins them
    flat_lint = " ".join(joined.split())
    flat_recipe = " ".join(RECIPE.split())
    assert text in flat_lint or text in flat_recipe, text


def lint_says(check: str) -> str:
    """The first finding of `check` that lint prints for the document (the as-written recipe),
    with the openssl on PATH."""
    done = run_cli("lint", "--recipe", "as-written")
    return next(line for line in done.stdout.splitlines() if f": {check}: " in line)


def sh(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=30)


def key_identifiers_only(cert: x509.Certificate) -> bool:
    """Every extension is a subject or authority key identifier (what 3.2+ adds by itself)."""
    ids = (x509.SubjectKeyIdentifier.oid, x509.AuthorityKeyIdentifier.oid)
    return all(ext.oid in ids for ext in cert.extensions)


class Certs:
    """Keys and certificates made with the openssl commands of the document's shape."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.openssl = need_program("openssl")
        self.version = openssl_version.check(sh(folder, self.openssl, "version").stdout)
        self.writes_v1 = self.version[:2] < openssl_version.V3_ALWAYS

    def _key(self, name: str) -> None:
        sh(self.dir, self.openssl, "genpkey", "-algorithm", "EC", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-out", f"{name}.key")  # fmt: skip

    def _ext(self, name: str, lines: str) -> list[str]:
        if not lines:
            return []
        (self.dir / f"{name}.ext").write_text(f"[e]\n{lines}\n")
        return ["-extfile", f"{name}.ext", "-extensions", "e"]

    def ca(self, name: str, ext: str = "") -> str:
        """The document's CA: x509 -req -signkey; `ext` '' keeps it bare (as the document)."""
        self._key(name)
        sh(self.dir, self.openssl, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}",
           "-out", f"{name}.csr")  # fmt: skip
        done = sh(self.dir, self.openssl, "x509", "-req", "-in", f"{name}.csr", "-signkey",
                  f"{name}.key", *self._ext(name, ext), "-out", f"{name}.crt")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return name

    def v1_ca(self, name: str) -> str:
        """A v1 CA (no extensions at all) on any version: the document's commands on 3.0 and
        3.1; from 3.2, which always writes v3 there, `req -x509 -x509v1` with an empty config."""
        if self.writes_v1:
            return self.ca(name)
        self._key(name)
        (self.dir / "empty.cnf").write_text("[req]\ndistinguished_name = dn\n[dn]\n")
        done = sh(self.dir, self.openssl, "req", "-new", "-x509", "-x509v1", "-config",
                  "empty.cnf", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out",
                  f"{name}.crt")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return name

    def leaf(self, name: str, ca: str, cn: str, ext: str = "") -> str:
        self._key(name)
        sh(self.dir, self.openssl, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}",
           "-out", f"{name}.csr")  # fmt: skip
        done = sh(self.dir, self.openssl, "x509", "-req", "-in", f"{name}.csr", "-CA",
                  f"{ca}.crt", "-CAkey", f"{ca}.key", *self._ext(name, ext), "-out",
                  f"{name}.crt")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return name

    def path(self, name: str, suffix: str = ".crt") -> Path:
        return self.dir / f"{name}{suffix}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    made = Certs(tmp_path_factory.mktemp("claims"))
    made.ca("docca")  # the document's CA, as the openssl on PATH writes it
    made.v1_ca("v1ca")  # the document's CA as OpenSSL 3.0 writes it, on any version
    made.ca("v3ca", "subjectKeyIdentifier = hash")  # one extension: v3, still no CA:TRUE
    san = "subjectAltName = DNS:srv, IP:127.0.0.1"
    made.leaf("srv", "v1ca", "srv", san)
    made.leaf("srv3", "v3ca", "srv", san)
    made.leaf("srvdoc", "docca", "srv", san)
    made.leaf("nosan", "v1ca", "srv")  # the document's server certificates: no extensions
    made.leaf("nr", "v1ca", "srv", f"{san}\nkeyUsage = nonRepudiation")
    made.leaf("client", "v1ca", "admin", "extendedKeyUsage = clientAuth")
    return made


def serve(certs: Certs, server: str):
    """A mutual-TLS server presenting `server`, trusting client certificates from v1ca."""
    return mtls_server(certs.path(server), certs.path(server, ".key"), certs.path("v1ca"))


def kubectl(certs: Certs, port: int, name: str, ca: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(certs.dir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    argv = [need_program("kubectl"), f"--server=https://127.0.0.1:{port}",
            f"--tls-server-name={name}", f"--certificate-authority={certs.path(ca)}",
            f"--client-certificate={certs.path('client')}",
            f"--client-key={certs.path('client', '.key')}", "get", "--raw", "/x"]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=certs.dir)


def curl(certs: Certs, port: int, name: str, ca: str) -> subprocess.CompletedProcess:
    argv = [need_program("curl"), "-q", "-sS", f"https://{name}:{port}/x", "--resolve",
            f"{name}:{port}:127.0.0.1", "--cacert", str(certs.path(ca)), "--cert",
            str(certs.path("client")), "--key", str(certs.path("client", ".key"))]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def test_the_documents_ca_is_the_version_lint_says_and_x509_strict_refuses_its_leaves(certs):
    said = lint_says("ca-not-ca")
    assert (
        "openssl verify -x509_strict refuses every certificate it signs ('invalid CA "
        "certificate')" in said
    )
    assert openssl_version.bare_ca_leaves(certs.version) in said
    cert = x509.load_pem_x509_certificate(certs.path("docca").read_bytes())
    if certs.writes_v1:
        assert "writes such a CA as v1" in said
        assert cert.version == x509.Version.v1 and len(cert.extensions) == 0
    else:
        assert "writes such a CA as v3 (with a subject key identifier)" in said
        assert cert.version == x509.Version.v3 and key_identifiers_only(cert)
        assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    strict = sh(certs.dir, certs.openssl, "verify", "-x509_strict", "-no-CApath", "-no-CAstore",
                "-CAfile", "docca.crt", "srvdoc.crt")  # fmt: skip
    assert strict.returncode != 0 and "invalid CA certificate" in strict.stdout + strict.stderr
    # without -x509_strict, 3.0 and 3.1 accept the leaves of their v1 CA; 3.5 refuses them
    plain = sh(certs.dir, certs.openssl, "verify", "-no-CApath", "-no-CAstore", "-CAfile",
               "docca.crt", "srvdoc.crt")  # fmt: skip
    assert (plain.returncode == 0) is certs.writes_v1, plain.stderr


def test_kubectl_and_curl_accept_a_v1_ca_and_refuse_a_v3_ca_without_ca_true(certs):
    printed("kubectl (Go) and curl refuse them only when the CA is a v3 certificate")
    assert x509.load_pem_x509_certificate(certs.path("v1ca").read_bytes()).version == (
        x509.Version.v1
    )
    with serve(certs, "srv") as port:
        assert kubectl(certs, port, "srv", "v1ca").stdout == "ok admin"
        assert curl(certs, port, "srv", "v1ca").stdout == "ok admin"
    assert (
        x509.load_pem_x509_certificate(certs.path("v3ca").read_bytes()).version == x509.Version.v3
    )
    with serve(certs, "srv3") as port:
        go = kubectl(certs, port, "srv", "v3ca")
        assert go.returncode != 0 and go.stdout == ""
        refused = curl(certs, port, "srv", "v3ca")
        assert refused.returncode == 60 and refused.stdout == ""  # 60: the peer's certificate


def test_the_documents_ca_leaves_are_accepted_as_lint_says(certs):
    """What lint says kubectl and curl do with the document's CA, for the openssl on PATH:
    3.0 and 3.1 write it as v1 and they accept its leaves; 3.2 and later write v3, refused."""
    said = lint_says("ca-not-ca")
    assert ("so they accept its leaves" in said) is certs.writes_v1
    assert ("so they refuse its leaves too" in said) is not certs.writes_v1
    with serve(certs, "srvdoc") as port:
        go = kubectl(certs, port, "srv", "docca")
        fetched = curl(certs, port, "srv", "docca")
    if certs.writes_v1:
        assert go.stdout == "ok admin" and fetched.stdout == "ok admin"
    else:
        assert go.returncode != 0 and go.stdout == ""
        assert fetched.returncode == 60 and fetched.stdout == ""


def test_non_repudiation_only_curl_and_python_refuse_kubectl_accepts(certs):
    printed(
        "curl and Python's ssl refuse it as a server certificate ('unsuitable certificate purpose'), kubectl (Go ignores keyUsage) accepts it"
    )
    printed(
        'curl and Python\'s ssl refuse a TLS server certificate with only nonRepudiation ("unsuitable certificate purpose"); kubectl accepts it (Go ignores keyUsage).'
    )
    with serve(certs, "nr") as port:
        refused = curl(certs, port, "srv", "v1ca")
        assert refused.returncode == 60 and "unsuitable certificate purpose" in refused.stderr
        assert kubectl(certs, port, "srv", "v1ca").stdout == "ok admin"
        context = ssl.create_default_context(cafile=str(certs.path("v1ca")))
        context.load_cert_chain(certs.path("client"), certs.path("client", ".key"))
        refusal = pytest.raises(
            ssl.SSLCertVerificationError, match="unsuitable certificate purpose"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, refusal:
            context.wrap_socket(raw, server_hostname="srv")


def test_without_sans_kubectl_refuses_every_name_and_curl_falls_back_to_the_cn(certs):
    printed(
        "kubectl refuses it for every name ('x509: certificate is not valid for any names, but wanted to match HOST'; 'certificate relies on legacy Common Name field' when the CN is that host)"
    )
    printed("curl alone falls back to the CN")
    with serve(certs, "nosan") as port:
        other = kubectl(certs, port, "node01", "v1ca")
        assert (
            "x509: certificate is not valid for any names, but wanted to match node01"
            in other.stderr
        )
        same = kubectl(certs, port, "srv", "v1ca")  # the CN is srv
        assert same.returncode != 0
        assert (
            "x509: certificate relies on legacy Common Name field, use SANs instead" in same.stderr
        )
        assert curl(certs, port, "srv", "v1ca").stdout == "ok admin"  # CN=srv: accepted
        mismatch = curl(certs, port, "node01", "v1ca")
        assert mismatch.returncode == 60 and mismatch.stdout == ""  # the CN is not node01


def test_a_name_missing_from_the_sans_is_refused_by_kubectl(certs):
    printed("kubectl refuses the connection ('x509: certificate is valid for ..., not")
    with serve(certs, "srv") as port:
        done = kubectl(certs, port, "kube-apiserver", "v1ca")
    assert done.returncode != 0
    assert "x509: certificate is valid for srv, not kube-apiserver" in done.stderr


def test_x509_req_drops_the_csrs_extensions(certs, tmp_path):
    printed("`x509 -req` drops every extension of the CSR unless told (OpenSSL 3.0 and 3.5 alike).")
    said = lint_says("extensions-dropped")
    assert said.endswith(openssl_version.bare_certificate(certs.version))
    openssl = certs.openssl
    (tmp_path / "req.cnf").write_text(
        "[req]\ndistinguished_name = dn\nreq_extensions = e\n[dn]\n[e]\nsubjectAltName = DNS:srv\n"
    )
    sh(tmp_path, openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-out", "a.key")  # fmt: skip
    sh(tmp_path, openssl, "req", "-new", "-key", "a.key", "-subj", "/CN=a", "-config", "req.cnf",
       "-out", "a.csr")  # fmt: skip
    csr = x509.load_pem_x509_csr((tmp_path / "a.csr").read_bytes())
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    sh(tmp_path, openssl, "x509", "-req", "-in", "a.csr", "-CA", str(certs.path("v1ca")),
       "-CAkey", str(certs.path("v1ca", ".key")), "-out", "a.crt")  # fmt: skip
    cert = x509.load_pem_x509_certificate((tmp_path / "a.crt").read_bytes())
    if certs.writes_v1:
        assert "a v1 certificate without extensions" in said
        assert cert.version == x509.Version.v1 and len(cert.extensions) == 0
    else:
        assert "a v3 certificate whose only extensions are key identifiers" in said
        assert cert.version == x509.Version.v3 and key_identifiers_only(cert)


def test_the_documents_openssl_cnf_stops_openssl_req(certs, tmp_path):
    printed("openssl req fails with \"Unable to get 'req_distinguished_name' section\" otherwise.")
    (tmp_path / "openssl.cnf").write_text(
        "[req]\nreq_extensions = v3_req\ndistinguished_name = req_distinguished_name\n"
        "[ v3_req ]\nbasicConstraints = CA:FALSE\n"
    )
    sh(tmp_path, certs.openssl, "genpkey", "-algorithm", "EC", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-out", "k.key")  # fmt: skip
    done = sh(tmp_path, certs.openssl, "req", "-new", "-key", "k.key", "-subj", "/CN=x",
              "-config", "openssl.cnf", "-out", "k.csr")  # fmt: skip
    assert done.returncode != 0
    assert "Unable to get 'req_distinguished_name' section" in done.stderr


def test_without_a_current_context_kubectl_uses_neither_cluster_nor_user(certs, tmp_path):
    printed("Without a current context kubectl does not use the cluster or the user at all.")
    with serve(certs, "srv") as port:
        config = tmp_path / "no-context.kubeconfig"
        config.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
            f"    certificate-authority: {certs.path('v1ca')}\n"
            f"    server: https://127.0.0.1:{port}\n  name: kubernetes\n"
            "users:\n- name: kubernetes-admin\n  user:\n"
            f"    client-certificate: {certs.path('client')}\n"
            f"    client-key: {certs.path('client', '.key')}\n"
        )
        env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        done = subprocess.run(
            [need_program("kubectl"), "--kubeconfig", str(config), "get", "--raw", "/x"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
    # no context: kubectl falls back to its built-in default server, not the file's cluster
    assert done.returncode != 0 and "ok admin" not in done.stdout
    assert "localhost:8080" in done.stderr, done.stderr
