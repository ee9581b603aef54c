"""prove's counterfactual: a node's hostile CSR, signed the Hard Way and signed by `sign`.

A node asks for `CA:TRUE` in its kubelet client CSR. Kubernetes The Hard Way signs node CSRs
with `openssl x509 -req ... -copy_extensions copyall`, which copies that request into the
certificate: the node becomes a CA of the cluster, mints itself a `system:masters` certificate,
and a real TLS server trusting the cluster CA (etcd here, with --trusted-ca-file set to the CA
the kube-apiserver names in --client-ca-file) accepts it when the chain is sent. Signed with
the recipe's own command (`-extfile NAME.cnf -extensions v3_req`) the same CSR gives CA:FALSE and
the minted certificate is refused; `sign` refuses the CSR before any signature.

No kube-apiserver runs here: etcd stands in as the Go TLS server that checks client
certificates against the CA. Everything is made in a scratch folder (removed at the end) with
the real openssl, etcd and etcdctl; the output folder is only read (its CA certificate and key).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from kpki_openssl.base import processes
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks import csr_policy
from kpki_openssl.plan import certificates_api, openssl_argv
from kpki_openssl.plan.steps import CertStep, Plan
from kpki_openssl.prove.context import Context
from kpki_openssl.prove.etcd import by_handshake, etcdctl_timeouts, reason_logged
from kpki_openssl.prove.results import ACCEPT, FAIL, MISSING, NOTE, PASS, REFUSE, TOOL, Check
from kpki_openssl.prove.scratch import free_ports, port_open

GROUP = "hostile-csr"
LOOPBACK = "127.0.0.1"
EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def run(context: Context) -> None:
    """prove's hostile-csr group: the counterfactual's checks, reported in order."""
    for check in counterfactual(context.plan, context.out):
        context.add(check)


def counterfactual(plan: Plan, out: Path) -> list[Check]:
    """The checks, in order: the Hard Way makes the node a CA, etcd accepts what that CA
    mints; the recipe's command does not, etcd refuses; sign refuses the CSR."""
    step = _node_client(plan)
    if step is None or step.signer is None:
        why = "no kubelet client row signed by a CA in this recipe: nothing to try"
        return [Check(GROUP, "a node's CSR asking for CA:TRUE", TOOL, ACCEPT, NOTE, why)]
    ca = step.signer
    ca_crt, ca_key = (out / ca.cert_file).resolve(), (out / ca.key_file).resolve()
    if not (ca_crt.is_file() and ca_key.is_file()):
        why = f"{ca.cert_file} and {ca.key_file} are not both in the folder (run {ca.name})"
        return [Check(GROUP, "a node's CSR asking for CA:TRUE", TOOL, ACCEPT, NOTE, why)]
    missing = [p for p in ("openssl", "etcd", "etcdctl") if shutil.which(p) is None]
    if missing:
        why = f"{', '.join(missing)} not installed"
        return [Check(GROUP, "a node's CSR asking for CA:TRUE", TOOL, ACCEPT, MISSING, why)]
    work = Path(tempfile.mkdtemp(prefix="kpki-hostile-csr-"))
    try:
        return _run(step, ca_crt, ca_key, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _node_client(plan: Plan) -> CertStep | None:
    for step in plan.steps:
        kubelet = isinstance(step, CertStep) and not step.is_ca
        if kubelet and certificates_api.signer_for(step.spec) == certificates_api.KUBELET_CLIENT:
            return step  # type: ignore[return-value]
    return None


def _openssl(work: Path, *argv: str) -> None:
    done = processes.run(("openssl", *argv), timeout=processes.MAKE, cwd=work)
    if not done.ok:
        raise KpkiError(f"openssl {argv[0]}: {done.stderr.strip()[-300:]}")


def _is_ca(path: Path) -> bool:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _run(step: CertStep, ca_crt: Path, ca_key: Path, work: Path) -> list[Check]:
    spec = step.spec
    checks: list[Check] = []
    # the node's own key and its hostile CSR: the row's subject, and CA:TRUE
    hostile = ("req", "-new", *EC, "-keyout", "node.key", "-subj", spec.subject_text,
               "-addext", "basicConstraints=critical,CA:TRUE",
               "-addext", "keyUsage=critical,keyCertSign,digitalSignature",
               "-out", "node.csr")  # fmt: skip
    _openssl(work, *hostile)
    pem = (work / "node.csr").read_bytes()
    # 1. signed the Hard Way: the CSR's extensions copied
    hard_way = ("x509", "-req", "-in", "node.csr", "-CA", str(ca_crt), "-CAkey", str(ca_key),
                "-copy_extensions", "copyall", "-days", "1", "-out", "hard-way.crt")  # fmt: skip
    _openssl(work, *hard_way)
    became_ca = _is_ca(work / "hard-way.crt")
    what = (f"signed the Hard Way (-copy_extensions copyall), {spec.name}'s CSR asking for "
            "CA:TRUE becomes a CA")  # fmt: skip
    check = Check(GROUP, what, "openssl", ACCEPT, argv=("openssl", *hard_way))
    check.status = PASS if became_ca else FAIL
    check.said = "basicConstraints CA:TRUE in the issued certificate" if became_ca else "CA:FALSE"
    checks.append(check)
    # 2. the recipe's own command for the row: the extensions from its .cnf
    (work / "row.cnf").write_text(openssl_argv.cnf_text(spec))
    ours = ("x509", "-req", "-in", "node.csr", "-CA", str(ca_crt), "-CAkey", str(ca_key),
            "-days", "1", "-extfile", "row.cnf", "-extensions", openssl_argv.LEAF_SECTION,
            "-out", "ours.crt")  # fmt: skip
    _openssl(work, *ours)
    # each "CA" mints a system:masters client certificate with the node's key
    (work / "masters.cnf").write_text(
        "[v3]\nbasicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n"
    )
    _openssl(work, "req", "-new", *EC, "-keyout", "masters.key",
             "-subj", "/CN=intruder/O=system:masters", "-out", "masters.csr")  # fmt: skip
    for issuer in ("hard-way", "ours"):
        _openssl(work, "x509", "-req", "-in", "masters.csr", "-CA", f"{issuer}.crt",
                 "-CAkey", "node.key", "-days", "1", "-extfile", "masters.cnf",
                 "-extensions", "v3", "-out", f"masters-{issuer}.crt")  # fmt: skip
        chain = (work / f"masters-{issuer}.crt").read_text() + (work / f"{issuer}.crt").read_text()
        (work / f"chain-{issuer}.crt").write_text(chain)
    checks += _etcd_checks(spec.name, ca_crt, work)
    # 3. sign, on the same CSR
    violations = csr_policy.review(pem, csr_policy.allowed(spec))
    refused = any(v.check == "basicConstraints" for v in violations)
    check = Check(GROUP, f"sign refuses the same CSR for {spec.name}", "kpki-openssl sign",
                  REFUSE, PASS if refused else FAIL)  # fmt: skip
    check.said = "; ".join(str(v) for v in violations) or "no violation found"
    checks.append(check)
    return checks


def _etcd_checks(name: str, ca_crt: Path, work: Path) -> list[Check]:
    """etcd trusting the cluster CA (--trusted-ca-file), serving a throwaway certificate;
    etcdctl presents each minted system:masters certificate with its chain."""
    (work / "server.cnf").write_text(
        "[v3]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
        f"extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = IP:{LOOPBACK}\n"
    )
    _openssl(work, "req", "-x509", *EC, "-keyout", "server-ca.key", "-subj", "/CN=stand-in-ca",
             "-days", "1", "-out", "server-ca.crt")  # fmt: skip
    _openssl(work, "req", "-new", *EC, "-keyout", "server.key", "-subj", "/CN=etcd",
             "-out", "server.csr")  # fmt: skip
    _openssl(work, "x509", "-req", "-in", "server.csr", "-CA", "server-ca.crt", "-CAkey",
             "server-ca.key", "-days", "1", "-extfile", "server.cnf", "-extensions", "v3",
             "-out", "server.crt")  # fmt: skip
    client_port, peer_port = free_ports(2)
    client_url, peer_url = f"https://{LOOPBACK}:{client_port}", f"http://{LOOPBACK}:{peer_port}"
    argv = ("etcd", "--name", "hostile-csr", "--data-dir", str(work / "data"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"hostile-csr={peer_url}",
            "--cert-file", str(work / "server.crt"), "--key-file", str(work / "server.key"),
            "--client-cert-auth", "--trusted-ca-file", str(ca_crt))  # fmt: skip
    server = processes.start(argv, work / "etcd.log", cwd=work)
    try:
        if not _wait_port(server, client_port):
            said = (work / "etcd.log").read_text(errors="replace").strip()[-300:]
            return [Check(GROUP, "etcd trusting the cluster CA starts", "etcd", ACCEPT, FAIL,
                          said, argv)]  # fmt: skip
        out = []
        for issuer, expect, how in (
            ("hard-way", ACCEPT, "the Hard Way's CA"),
            ("ours", REFUSE, "the recipe's command (-extfile, CA:FALSE)"),
        ):
            ctl = ("etcdctl", f"--endpoints={client_url}", *etcdctl_timeouts(expect),
                   f"--cacert={work / 'server-ca.crt'}",
                   f"--cert={work / f'chain-{issuer}.crt'}", f"--key={work / 'masters.key'}",
                   "put", "/registry/hostile-csr", "system:masters")  # fmt: skip
            since = (work / "etcd.log").stat().st_size
            done = processes.run(ctl, timeout=processes.CLIENT, env=_etcdctl_env())
            accepted = done.ok and done.stdout.strip() == "OK"
            what = (f"etcd, trusting {ca_crt.name} as the kube-apiserver's --client-ca-file, "
                    f"takes a put from a system:masters certificate minted by {how} "
                    f"from {name}'s CSR")  # fmt: skip
            said = "OK: written" if accepted else _refusal(work / "etcd.log", since, done.stderr)
            status = PASS if accepted == (expect == ACCEPT) else FAIL
            if status == PASS and not accepted and not by_handshake(said):
                status = FAIL  # refused, but not by the TLS handshake
            out.append(Check(GROUP, what, "etcdctl", expect, status, said, ctl))
        return out
    finally:
        processes.stop(server)


def _etcdctl_env() -> dict[str, str]:
    env = {k: v for k, v in processes.environment().items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    return env


def _refusal(log: Path, since: int, stderr: str) -> str:
    """Why etcd hung up (its log: etcdctl itself only says the deadline passed)."""
    reason = reason_logged(log, since)
    return reason.removeprefix("; ") if reason else _last_line(stderr) or "refused"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _wait_port(server, port: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        if port_open(port):
            return True
        time.sleep(0.05)
    return False
