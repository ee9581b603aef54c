"""`prove` with the real programs: the bundled PKI passes; folders with a defect injected (with
the real openssl) are caught by the program that would meet it in a cluster, in its own words."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kpki_openssl.cli import main as cli_main
from kpki_openssl.prove.scratch import port_open
from tests.conftest import need_program

pytestmark = pytest.mark.real


def prove_json(out: Path, *args: str) -> tuple[int, dict]:
    """`prove --json` in-process (stdout captured without capsys, so module fixtures can use it)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli_main(["prove", "--json", "--out", str(out), *args])
    return code, json.loads(buffer.getvalue())


def by_what(doc: dict) -> dict[str, dict]:
    return {c["what"]: c for c in doc["checks"]}


def needs_all() -> None:
    for name in ("openssl", "etcd", "etcdctl", "kubectl", "curl"):
        need_program(name)


@pytest.fixture(scope="module")
def bundled_scratch(tmp_path_factory) -> Path:
    """Where the bundled run's prove keeps its scratch folder (its TMPDIR), so the check that
    nothing is left running looks at that run alone, not at another test's prove."""
    return tmp_path_factory.mktemp("prove-scratch")


@pytest.fixture(scope="module")
def bundled(built_pki: Path, bundled_scratch: Path) -> tuple[int, dict]:
    import tempfile

    needs_all()
    before, tempfile.tempdir = tempfile.tempdir, str(bundled_scratch)
    try:
        return prove_json(built_pki)
    finally:
        tempfile.tempdir = before


def test_the_bundled_pki_passes_every_check(bundled) -> None:
    code, doc = bundled
    failed = [c for c in doc["checks"] if c["status"] not in ("pass", "note")]
    assert code == 0 and not failed, failed
    checks = by_what(doc)
    groups = {c["group"] for c in doc["checks"]}
    assert {"etcd", "apiserver", "kubelet"} <= groups
    kubeconfigs = [w for w in checks if w.startswith("kubectl --kubeconfig ") and "dials" in w]
    assert len(kubeconfigs) == 7  # admin, scheduler, controller-manager, proxy, 3 kubelets
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local", "kube-apiserver", "10.96.0.1", "172.17.0.87"]  # fmt: skip
    for name in names:
        assert checks[f"the document's curl call to https://{name}:6443"]["said"] == "PodList"
        assert (
            checks[f"kubectl --kubeconfig admin.kubeconfig by the name {name}"]["status"] == "pass"
        )
    for node in ("node01", "node02", "node03"):
        got = checks[f"kubelet-{node}.crt by the name {node}, to the apiserver's kubelet client"]
        assert got["status"] == "pass" and got["said"] == "ok"


def test_certificates_from_another_ca_are_refused_in_the_programs_words(bundled) -> None:
    _code, doc = bundled
    checks = by_what(doc)
    etcd = checks["a client certificate from another CA is refused by etcd"]
    assert etcd["status"] == "pass" and etcd["said"]  # refused, in etcdctl's and etcd's words
    api = checks["kubectl --kubeconfig admin.kubeconfig with a client certificate from another CA"]
    assert api["status"] == "pass" and api["said"]
    # the bundled recipe gives etcd its own CA: nothing gets in that should not
    assert not [c for c in doc["checks"] if c["status"] == "note"]


def test_servers_are_stopped_and_their_ports_free(bundled, bundled_scratch: Path) -> None:
    _code, doc = bundled
    ports = {
        int(m.group(1))
        for c in doc["checks"]
        for arg in c["argv"]
        for m in [re.search(r"https://127\.0\.0\.1:(\d+)$", arg)]
        if m
    }
    assert len(ports) >= 3  # etcd, the apiserver's s_server, each kubelet's
    assert not [p for p in ports if port_open(p)]
    assert any(str(bundled_scratch) in a for c in doc["checks"] for a in c["argv"])  # it ran there
    pattern = f"{bundled_scratch}/kpki-prove-"
    left = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    assert left.stdout.strip() == ""  # no etcd (its data folder) or s_server left running


@pytest.fixture
def copy(built_pki: Path, tmp_path: Path) -> Path:
    out = tmp_path / "pki"
    shutil.copytree(built_pki, out, ignore=shutil.ignore_patterns(".kpki"))
    return out


def resign(out: Path, name: str, cnf: str | None, ca: str = "ca") -> None:
    """Sign NAME.csr again with the real openssl: with `cnf`'s [v3_req], or with no extensions
    at all (the document's x509 -req) when cnf is None."""
    argv = ["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
            f"{ca}.key", "-days", "2", "-out", f"{name}.crt"]  # fmt: skip
    if cnf is not None:
        (out / "defect.cnf").write_text(cnf)
        argv += ["-extfile", "defect.cnf", "-extensions", "v3_req"]
    subprocess.run(argv, cwd=out, check=True, capture_output=True, timeout=30)


def test_a_kubelet_without_sans_is_refused_by_kubectl(copy: Path) -> None:
    needs_all()
    resign(copy, "kubelet-node01", None)
    code, doc = prove_json(copy, "--only", "kubelet")
    assert code == 1
    checks = by_what(doc)
    node01 = checks["kubelet-node01.crt by the name node01, to the apiserver's kubelet client"]
    assert node01["status"] == "fail" and node01["program"] == "kubectl"
    want = "x509: certificate is not valid for any names, but wanted to match node01"
    assert want in node01["said"]
    node02 = checks["kubelet-node02.crt by the name node02, to the apiserver's kubelet client"]
    assert node02["status"] == "pass"


def test_an_apiserver_without_the_name_it_is_dialled_by_is_refused_by_kubectl_and_curl(
    copy: Path,
) -> None:
    needs_all()
    cnf = (copy / "apiserver.cnf").read_text().replace("DNS.5 = kube-apiserver\n", "")
    resign(copy, "apiserver", cnf)
    code, doc = prove_json(copy, "--only", "apiserver")
    assert code == 1
    checks = by_what(doc)
    kube = checks["kubectl --kubeconfig admin.kubeconfig (dials kube-apiserver)"]
    assert kube["status"] == "fail"
    assert (
        "x509: certificate is valid for kubernetes," in kube["said"]
        and "not kube-apiserver" in kube["said"]
    )
    curl = checks["the document's curl call to https://kube-apiserver:6443"]
    assert curl["status"] == "fail" and curl["program"] == "curl"  # its words vary by version
    assert checks["the document's curl call to https://kubernetes:6443"]["status"] == "pass"


def test_non_repudiation_is_refused_by_curl_only_and_a_foreign_client_by_the_server(
    copy: Path, foreign_pki: Path
) -> None:
    """Two defects, each met by a different check: the apiserver's keyUsage (curl), and
    kube-scheduler's certificate swapped for one from another CA (the server refuses kubectl)."""
    needs_all()
    cnf = (copy / "apiserver.cnf").read_text()
    cnf = re.sub(r"keyUsage = .*\n", "keyUsage = nonRepudiation\n", cnf)
    resign(copy, "apiserver", cnf)
    for suffix in (".crt", ".key"):
        shutil.copy(foreign_pki / f"admin{suffix}", copy / f"kube-scheduler{suffix}")
    code, doc = prove_json(copy, "--only", "apiserver")
    assert code == 1
    checks = by_what(doc)
    for name in ("kubernetes", "kube-apiserver", "10.96.0.1"):
        curl = checks[f"the document's curl call to https://{name}:6443"]
        assert curl["status"] == "fail" and "unsuitable certificate purpose" in curl["said"]
        assert (
            checks[f"kubectl --kubeconfig admin.kubeconfig by the name {name}"]["status"] == "pass"
        )
    scheduler = checks["kubectl --kubeconfig kube-scheduler.kubeconfig (dials kube-apiserver)"]
    assert scheduler["status"] == "fail" and scheduler["program"] == "kubectl"


def test_an_etcd_server_without_sans_times_out_and_etcd_logs_why(copy: Path) -> None:
    needs_all()
    resign(copy, "etcdserver", None, ca="etcd-ca")
    code, doc = prove_json(copy, "--only", "etcd")
    assert code == 1
    put = by_what(doc)["etcdctl put through member etcdpeer1 as apiserver-etcd-client.crt"]
    assert put["status"] == "fail"
    assert "context deadline exceeded" in put["said"] and "tls: bad certificate" in put["said"]
    # the negative checks are not run: a refusal would prove nothing
    assert [c["status"] for c in doc["checks"] if c["expect"] == "refuse"] == ["not run", "not run"]


def test_a_missing_program_is_named(built_pki: Path, tmp_path: Path, monkeypatch) -> None:
    need_program("openssl")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "openssl").symlink_to(shutil.which("openssl"))
    monkeypatch.setenv("PATH", str(bin_dir))
    code, doc = prove_json(built_pki, "--only", "kubelet")
    assert code == 1
    statuses = {c["status"] for c in doc["checks"]}
    assert statuses == {"program missing"}
    assert all(c["said"] == "kubectl is not installed (not on PATH)" for c in doc["checks"])


def test_prove_on_a_folder_that_does_not_exist(tmp_path: Path, capsys) -> None:
    assert cli_main(["prove", "--out", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_with_its_own_ca_etcd_refuses_a_kubelets_certificate(tmp_path: Path) -> None:
    """The bundled recipe's etcd CA: the apiserver's etcd client gets in; a kubelet's
    certificate, from the cluster CA, is refused by etcd itself. With the document's single CA
    (`--set etcd_ca=ca`) the same certificate gets in, and prove says so in a note."""
    needs_all()
    steps = ["ca", "etcd-ca", "etcdserver", "etcdpeer1", "apiserver-etcd-client",
             "kubelet-client-n1", "etcd-etcdpeer1.flags", "kube-apiserver.flags"]  # fmt: skip
    for variant, sets in (("own", []), ("single", ["--set", "etcd_ca=ca"])):
        out = tmp_path / variant
        sets = ["--set", "nodes=n1", "--set", "key_type=ecdsa", *sets]
        chosen = [n for n in steps if n != "etcd-ca" or variant == "own"]  # one CA: no etcd-ca
        assert cli_main(["run", *chosen, "--quiet", "--out", str(out), *sets]) == 0
        code, doc = prove_json(out, *sets, "--only", "etcd")
        checks = by_what(doc)
        put = checks["etcdctl put through member etcdpeer1 as apiserver-etcd-client.crt"]
        assert put["said"] == "OK"
        notes = [c for c in doc["checks"] if c["status"] == "note"]
        if variant == "own":
            refused = checks[
                "kubelet-client-n1.crt (signed by ca.crt) is refused by etcd, which trusts only "
                "etcd-ca.crt"
            ]
            assert refused["status"] == "pass" and refused["expect"] == "refuse"
            assert code == 0 and not notes
        else:
            (note,) = notes
            assert note["said"] == "OK" and "no separate etcd CA" in note["what"]


def test_ctrl_c_stops_every_server_it_started(built_pki: Path, tmp_path: Path) -> None:
    """SIGINT to prove alone (its servers run in their own process groups, so only prove's own
    cleanup can stop them): exit 130, no etcd or s_server left, the scratch folder gone."""
    import os
    import signal
    import sys
    import time

    from tests.conftest import REPO

    needs_all()
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kpki_openssl", "prove", "--out", str(built_pki)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until its etcd is up (its data folder is there)
            if any(tmp_path.glob("kpki-prove-*/etcd-*/member")):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("prove never started etcd")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not list(tmp_path.glob("kpki-prove-*"))  # scratch removed
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert left.stdout.strip() == ""  # no etcd (its --data-dir is under tmp_path) still running


def test_the_groups_are_listed_once_and_each_module_has_its_run(capsys) -> None:
    """`--only` takes exactly the registry's names; each row's module has the run(context)
    prove calls; building the parser imports none of those modules (start-up cost)."""
    import sys

    from kpki_openssl.cli import build_parser
    from kpki_openssl.prove import registry
    from tests.conftest import REPO

    parser = build_parser()
    for name in registry.NAMES:
        assert parser.parse_args(["prove", "--only", name]).only == [name]
    with pytest.raises(SystemExit):
        parser.parse_args(["prove", "--only", "no-such-group"])
    capsys.readouterr()
    assert len(set(registry.NAMES)) == len(registry.NAMES)
    assert all(callable(g.runner()) and g.help for g in registry.GROUPS)
    code = (
        "import sys; from kpki_openssl.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('kpki_openssl.prove.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "['kpki_openssl.prove.registry']"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (  # etcd 3.4's text log
            'rejected connection from "127.0.0.1:40000" (error "remote error: tls: bad '
            'certificate", ServerName "")',
            "remote error: tls: bad certificate",
        ),
        (  # etcd 3.5's JSON log: the reason quotes Go's words inside escaped quotes
            '{"level":"warn","msg":"rejected connection","error":"tls: failed to verify '
            "certificate: x509: certificate signed by unknown authority (possibly because of "
            '\\"x509: invalid signature\\" while trying to verify candidate authority '
            'certificate \\"KUBERNETES-CA\\")"}',
            "tls: failed to verify certificate: x509: certificate signed by unknown authority "
            '(possibly because of "x509: invalid signature" while trying to verify candidate '
            'authority certificate "KUBERNETES-CA")',
        ),
    ],
)
def test_etcds_reason_is_quoted_whole_from_either_log_format(
    tmp_path: Path, line: str, reason: str
) -> None:
    from kpki_openssl.prove.etcd import log_reason

    log = tmp_path / "etcd.log"
    log.write_text(f"something else\n{line}\n")
    assert log_reason(log, 0) == f"; etcd's log: {reason}"


def test_a_bare_hang_up_after_the_handshake_does_not_hide_etcds_reason(tmp_path: Path) -> None:
    """etcdctl retries and gives up on its retry: etcd logs the handshake's reason, then "EOF"
    for the abandoned connection (seen in CI on the hostile-csr check)."""
    from kpki_openssl.prove.etcd import log_reason, reason_logged

    log = tmp_path / "etcd.log"
    told = (
        'rejected connection from "127.0.0.1:40000" (error "tls: failed to verify client '
        'certificate: x509: certificate signed by unknown authority", ServerName "")'
    )
    bare = 'rejected connection from "127.0.0.1:40002" (error "EOF", ServerName "")'
    log.write_text(f"{told}\n{bare}\n")
    assert "x509: certificate signed by unknown authority" in log_reason(log, 0)
    assert "EOF" not in reason_logged(log, 0, seconds=0)
    log.write_text(f"{bare}\n")  # nothing better logged: the bare reason, not nothing
    assert log_reason(log, 0) == "; etcd's log: EOF"


def test_a_timeout_alone_is_not_a_refusal() -> None:
    """Where etcd must refuse, etcdctl's bound is 1 s: a put cut short by it says only that
    the deadline passed, which must not count as etcd refusing the certificate."""
    from kpki_openssl.prove.etcd import by_handshake, etcdctl_timeouts
    from kpki_openssl.prove.results import ACCEPT, REFUSE

    assert not by_handshake("etcdctl: Error: context deadline exceeded")
    assert by_handshake("Error: context deadline exceeded; etcd's log: remote error: tls: bad")
    assert etcdctl_timeouts(REFUSE) != etcdctl_timeouts(ACCEPT)


@pytest.fixture
def ca_and_admin(tmp_path: Path) -> Path:
    """A folder halfway through a walkthrough: only the `ca` and `admin` steps built."""
    needs_all()
    out = tmp_path / "half"
    assert cli_main(["run", "ca", "admin", "--quiet", "--out", str(out)]) == 0
    return out


def test_prove_after_ca_and_admin_reports_no_failure(ca_and_admin: Path, capsys) -> None:
    """Files later steps make are not yet built (step N: NAME), not failures; a group with
    nothing to start says why; each group names its server and what it is."""
    code, doc = prove_json(ca_and_admin)
    assert code == 0 and doc["failed"] == 0 and doc["not_built"] > 0
    later = [c for c in doc["checks"] if c["status"] == "not yet built"]
    assert all(re.search(r"not yet built \(step \d+: \S+\)", c["said"]) for c in later)
    groups = {g["name"]: g for g in doc["groups"]}
    assert "no kube-apiserver" in groups["apiserver"]["server"]
    assert "apiserver.crt" in groups["apiserver"]["server"]
    assert "no kubelet" in groups["kubelet"]["server"]
    assert "real etcd" in groups["etcd"]["server"]
    for name in ("etcd", "kubelet"):  # nothing to start: one line why
        assert "not yet built (step" in groups[name]["not_run"]
    assert cli_main(["prove", "--out", str(ca_and_admin)]) == 0
    text = capsys.readouterr().out
    assert "apiserver: openssl s_server presenting apiserver.crt" in text
    assert "\netcd: a real etcd" in text and "  not run: " in text
    assert "FAIL" not in text


def test_prove_json_names_no_program_that_did_not_run(ca_and_admin: Path) -> None:
    """A check's program is the tool's (kpki-openssl) unless that program ran (its argv)."""
    _code, doc = prove_json(ca_and_admin)
    for check in doc["checks"]:
        if not check["program"].startswith("kpki-openssl"):
            assert check["argv"], check
            assert Path(check["argv"][0]).name == check["program"], check


def test_not_yet_built_is_the_tools_word_and_not_a_failure() -> None:
    """A check the tool judges without running a program is labelled as the tool's; not yet
    built leaves the exit status 0, a failure beside it does not."""
    from kpki_openssl.prove.results import FAIL, NOT_BUILT, TOOL, Check, ProveResult

    check = Check("apiserver", "x", "kubectl", "accept").tool(NOT_BUILT, "later")
    assert check.program == TOOL and ProveResult("r", "o", [check]).exit_code == 0
    failed = Check("apiserver", "y", "kubectl", "accept").tool(FAIL, "gone")
    assert ProveResult("r", "o", [check, failed]).exit_code == 1


def test_a_tls_alert_is_read_in_words_with_its_direction() -> None:
    from kpki_openssl.prove.results import alert_in_words

    theirs = alert_in_words('rejected connection (error "remote error: tls: bad certificate")')
    assert "other end" in theirs and "refused the certificate this side presented" in theirs
    ours = alert_in_words("x509: certificate signed by unknown authority")
    assert ours.startswith("this side refused")
    assert alert_in_words("connection refused") == ""
