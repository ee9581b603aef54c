"""`prove`: the real consumers, on loopback, against an output folder.

lint and verify say what *should* happen; this runs the programs and reports what they did, in
their own words when they refuse. etcd members start from the folder's etcd flags files and
etcdctl connects with the files kube-apiserver.flags names for etcd; an `openssl s_server`
presents the apiserver's certificate (from --tls-cert-file, asking for a client certificate
from --client-ca-file) to kubectl with each kubeconfig and to the document's curl call, by each
name the recipe gives the API server; each kubelet's serving certificate is served the same way
to kubectl holding the apiserver's --kubelet-* client files (kubectl is Go's TLS client, as the
API server is). Negative checks show least privilege: a certificate from another CA is refused,
and where etcd has its own CA, so is a kubelet's.

Paths inside the files are where they will be on the hosts (/var/lib/kubernetes/...): each is
mapped to the folder's file with the longest matching tail. Every server runs in its own process
group on a free 127.0.0.1 port and is stopped in a `finally` (Ctrl-C included); every child has a
timeout; the scratch folder (etcd data, mapped kubeconfigs) is removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kpki_openssl.plan.steps import Plan

LOOPBACK = "127.0.0.1"
ACCEPT, REFUSE = "accept", "refuse"
PASS, FAIL, MISSING, NOT_RUN, NOTE = "pass", "fail", "program missing", "not run", "note"
TIMEOUT = 20  # seconds for any one client
POD_LIST = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}
GROUPS = ("files", "etcd", "apiserver", "kubelet", "hostile-csr")  # the last: hostile_csr.py
UNPROVEN = (
    "not tried: the legitimate client did not get in either, so a refusal would prove nothing"
)
# flags the source document uses in place of kube-apiserver's own names
_NEAR_FLAGS = {
    "--etcd-cafile": ("--etcd-ca-file",),
    "--kubelet-certificate-authority": ("--kubelet-ca-file",),
    "--kubelet-client-certificate": ("--kubelet-certfile",),
    "--kubelet-client-key": ("--kubelet-keyfile",),
}


@dataclass
class Check:
    """One thing a real program was asked to do, and what it did."""

    group: str
    what: str
    program: str
    expect: str  # ACCEPT or REFUSE
    status: str = NOT_RUN
    said: str = ""  # the program's own words (its refusal, or what it returned)
    argv: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == PASS


@dataclass
class ProveResult:
    recipe: str
    out: str
    checks: list[Check] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if all(c.passed or c.status == NOTE for c in self.checks) else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "out": self.out,
            "passed": sum(c.passed for c in self.checks),
            "failed": sum(not c.passed and c.status != NOTE for c in self.checks),
            "checks": [asdict(c) for c in self.checks],
        }


# ---------------------------------------------------------------- files: host paths -> folder


class Folder:
    """The output folder's files; host paths are mapped to them by their longest tail."""

    def __init__(self, root: Path) -> None:
        self.root = root = root.resolve()
        self.files = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and ".kpki" not in p.relative_to(root).parts
        )
        self.notes: list[tuple[str, str]] = []  # (where, problem) for the files check

    def find(self, value: str, where: str) -> Path | None:
        """The folder's file a path names; a near miss (ca.pem for ca.crt, apiserver.cr) is
        used in its place and noted; None when nothing fits."""
        value = value.strip().strip('"')
        tails = [f for f in self.files if value == f or value.endswith("/" + f)]
        if tails:
            return self.root / max(tails, key=len)
        base = value.rsplit("/", 1)[-1]
        stem, _dot, suffix = base.partition(".")
        want = ".key" if suffix == "key" else ".crt"
        near = [f for f in self.files if f.rsplit("/", 1)[-1] == stem + want]
        if near:
            self.notes.append((where, f"names {value}, which is not in the folder; {near[0]} used"))
            return self.root / near[0]
        self.notes.append((where, f"names {value}, which is not in the folder"))
        return None


def read_flags(path: Path) -> dict[str, str]:
    """--flag=value lines of a flags file (comments and blank lines dropped)."""
    out: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("--"):
            name, _eq, value = line.partition("=")
            out[name] = value or "true"
    return out


# ---------------------------------------------------------------- running programs


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held together, then released)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.3):
            return True
    except OSError:
        return False


class Servers:
    """Servers prove started, each in its own process group; stop() ends every one."""

    def __init__(self) -> None:
        self.running: list[tuple[subprocess.Popen, Path]] = []

    def start(self, argv: Sequence[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: killpg reaches its children
            )
        self.running.append((proc, log))
        return proc

    def wait_port(self, proc: subprocess.Popen, port: int, seconds: float = 15) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if port_open(port):
                return True
            time.sleep(0.05)
        return False

    def stop(self, grace: float = 2.0) -> None:
        for proc, _log in self.running:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc, _log in self.running:
            try:
                proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        self.running.clear()


def _signal(proc: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def run(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> tuple[int, str, str]:
    """A client run with a timeout: (exit status, stdout, stderr)."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"(no answer within {TIMEOUT} s)"
    return done.returncode, done.stdout, done.stderr


def words(text: str) -> str:
    """A program's message as one line: its last non-empty lines, joined (structured log
    lines such as etcdctl's JSON retry warnings dropped when there is anything else)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    said = [ln for ln in lines if ln.startswith(_SAYS)]
    if said:
        return said[-1]
    plain = [ln for ln in lines if not ln.startswith("{")] or lines
    return " / ".join(plain[-2:])


_SAYS = ("curl: (", "Error:", "error:", "Unable to connect")  # the line a client's verdict is on


# ---------------------------------------------------------------- the run


class Prover:
    def __init__(self, plan: Plan, out: Path, groups: Sequence[str] = GROUPS) -> None:
        self.plan = plan
        self.out = out.resolve()
        self.groups = tuple(groups)
        self.folder = Folder(out)
        self.result = ProveResult(plan.recipe, str(out))
        self.servers = Servers()
        self.work = Path(tempfile.mkdtemp(prefix="kpki-prove-"))
        self.home = self.work / "home"
        self.home.mkdir()
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)}
        self.foreign: tuple[Path, Path, Path] | None = None

    # -- helpers

    def add(self, check: Check) -> Check:
        self.result.checks.append(check)
        return check

    def program(self, check: Check, name: str) -> str | None:
        found = shutil.which(name, path=self.base_env["PATH"])
        if found is None:
            check.status = MISSING
            check.said = f"{name} is not installed (not on PATH)"
        return found

    def judge(self, check: Check, accepted: bool, said: str) -> None:
        check.said = said
        check.status = PASS if accepted == (check.expect == ACCEPT) else FAIL

    def component(self, program: str) -> list[Path]:
        return [
            self.out / c.file
            for c in self.plan.components
            if c.program == program and (self.out / c.file).is_file()
        ]

    def cert_spec(self, path: Path | None):
        if path is None:
            return None
        rel = path.relative_to(self.out).as_posix()
        return next((c for c in self.plan.certs if c.cert_file == rel), None)

    def foreign_client(self) -> tuple[Path, Path, Path]:
        """A CA nobody trusts and a client certificate it signed (CN=intruder,
        O=system:masters): what every server must refuse."""
        if self.foreign is None:
            from kpki_openssl.prove.foreign_ca import make_foreign

            self.foreign = make_foreign(self.work / "foreign")
        return self.foreign

    # -- the whole run

    def prove(self) -> ProveResult:
        try:
            apiserver = self._apiserver_flags()
            if "etcd" in self.groups:
                self._etcd(apiserver)
            if "apiserver" in self.groups:
                self._apiserver(apiserver)
            if "kubelet" in self.groups:
                self._kubelets(apiserver)
        finally:
            self.servers.stop()
            shutil.rmtree(self.work, ignore_errors=True)
        if "files" in self.groups:
            notes = dict.fromkeys(self.folder.notes)  # a file named twice is one finding
            files = [
                Check("files", where, "prove", ACCEPT, FAIL, problem) for where, problem in notes
            ]
            self.result.checks[:0] = files
        return self.result

    def _apiserver_flags(self) -> dict[str, str]:
        files = self.component("kube-apiserver")
        return read_flags(files[0]) if files else {}

    def _flag_file(
        self, flags: dict[str, str], name: str, where: str, fallback: str = ""
    ) -> Path | None:
        """The folder's file a flag names; when the flag is absent, the recipe's own file for
        that role (`fallback`), so the programs can still be asked, and the absence noted."""
        if name in flags:
            return self.folder.find(flags[name], f"{where} {name}")
        if not flags:  # the recipe writes no such file (kubeadm's): the recipe's own files
            return self.out / fallback if fallback and (self.out / fallback).is_file() else None
        alias = next((a for a in _NEAR_FLAGS.get(name, ()) if a in flags), "")
        problem = f"has no {name}" + (f" (it has {alias} instead)" if alias else "")
        found = self.out / fallback if fallback and (self.out / fallback).is_file() else None
        self.folder.notes.append(
            (f"{where} {name}", problem + (f"; {fallback} used" if found else ""))
        )
        return found

    def _row_file(self, name: str, attr: str = "cert_file") -> str:
        """A file of the recipe's certificate row `name` (or of its CA with attr='ca'); ''."""
        by_name = {c.name: c for c in self.plan.certs}
        spec = by_name.get(name)
        if spec is None:
            return ""
        if attr == "ca":
            return by_name[spec.ca].cert_file if spec.ca in by_name else ""
        return getattr(spec, attr)

    # -- etcd

    def _etcd(self, apiserver: dict[str, str]) -> None:
        members = self.component("etcd")
        if not members:
            return
        probe = Check("etcd", "start the etcd members", "etcd", ACCEPT)
        etcd = self.program(probe, "etcd")
        if etcd is None:
            self.add(probe)
            return
        names, flags_of = [], {}
        for path in members:
            flags = read_flags(path)
            flags_of[path] = flags
            names.append(flags.get("--name", path.stem))
        ports = free_ports(2 * len(members))
        client = dict(zip(names, ports[: len(members)]))
        peer = dict(zip(names, ports[len(members) :]))
        initial = ",".join(f"{n}=https://{LOOPBACK}:{peer[n]}" for n in names)
        logs: dict[str, Path] = {}
        procs = {}
        trusted: Path | None = None
        for path, name in zip(members, names):
            argv = [etcd]
            for flag, value in flags_of[path].items():
                if flag.endswith("-file"):
                    found = self.folder.find(value, f"{path.name} {flag}")
                    if found is None:
                        continue
                    if flag == "--trusted-ca-file":
                        trusted = trusted or found
                    value = str(found)
                argv.append(f"{flag}={value}")
            url, purl = f"https://{LOOPBACK}:{client[name]}", f"https://{LOOPBACK}:{peer[name]}"
            argv += [
                f"--data-dir={self.work / ('etcd-' + name)}",
                f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
                f"--listen-peer-urls={purl}", f"--initial-advertise-peer-urls={purl}",
                f"--initial-cluster={initial}", "--initial-cluster-state=new",
                "--initial-cluster-token=kpki-prove",
            ]  # fmt: skip
            logs[name] = self.work / f"etcd-{name}.log"
            procs[name] = self.servers.start(argv, logs[name])
        for name in names:
            if not self.servers.wait_port(procs[name], client[name]):
                check = self.add(Check("etcd", f"etcd member {name} starts", "etcd", ACCEPT))
                check.argv = tuple(procs[name].args)
                self.judge(check, False, words(logs[name].read_text(errors="replace")))
                return
        where = "kube-apiserver.flags"
        row = "apiserver-etcd-client"
        ca = self._flag_file(apiserver, "--etcd-cafile", where, self._row_file(row, "ca"))
        cert = self._flag_file(apiserver, "--etcd-certfile", where, self._row_file(row))
        key = self._flag_file(apiserver, "--etcd-keyfile", where, self._row_file(row, "key_file"))
        if ca is None or cert is None or key is None:
            said = "no etcd client files in kube-apiserver.flags"
            self.add(Check("etcd", "etcdctl as the apiserver's etcd client", "etcdctl", ACCEPT,
                           FAIL, said))  # fmt: skip
            return
        who = cert.relative_to(self.out).as_posix()
        passed = [
            self._etcdctl(f"etcdctl put through member {name} as {who}", ACCEPT,
                          client[name], ca, cert, key, logs[name]).passed
            for name in names
        ]  # fmt: skip
        first = names[0]
        if not passed[0]:
            for what in ("a client certificate from another CA is refused by etcd",
                         "a kubelet's certificate with etcd"):  # fmt: skip
                self.add(Check("etcd", what, "etcdctl", REFUSE, NOT_RUN, UNPROVEN))
            return
        fca, fcert, fkey = self.foreign_client()
        self._etcdctl("a client certificate from another CA is refused by etcd", REFUSE,
                      client[first], ca, fcert, fkey, logs[first])  # fmt: skip
        self._kubelet_to_etcd(trusted, ca, client[first], logs[first])

    def _kubelet_to_etcd(self, trusted: Path | None, ca: Path, port: int, log: Path) -> None:
        """Where etcd has its own CA, a kubelet's certificate (signed by the cluster CA) must be
        refused; with one CA for everything etcd accepts it, and prove says so."""
        kubelets = [c for c in self.plan.certs if c.common_name.startswith("system:node:")]
        etcd_ca = self.cert_spec(trusted)
        if not kubelets or etcd_ca is None:
            return
        spec = kubelets[0]
        signer = next((c for c in self.plan.certs if c.name == spec.ca), None)
        if signer is None or not (self.out / spec.cert_file).is_file():
            return
        cert, key = self.out / spec.cert_file, self.out / spec.key_file
        if signer.name != etcd_ca.name:
            what = (
                f"{spec.cert_file} (signed by {signer.cert_file}) is refused by etcd, "
                f"which trusts only {etcd_ca.cert_file}"
            )
            self._etcdctl(what, REFUSE, port, ca, cert, key, log)
            return
        what = (
            f"a kubelet's certificate with etcd: {etcd_ca.cert_file} signs etcd's clients and "
            "every kubelet (no separate etcd CA), so etcd lets it in"
        )
        check = self._etcdctl(what, ACCEPT, port, ca, cert, key, log)
        if check.status in (PASS, FAIL):
            check.status = NOTE  # a fact about this recipe's design, not a pass or a failure

    def _etcdctl(
        self, what: str, expect: str, port: int, ca: Path, cert: Path, key: Path, log: Path
    ) -> Check:
        check = self.add(Check("etcd", what, "etcdctl", expect))
        etcdctl = self.program(check, "etcdctl")
        if etcdctl is None:
            return check
        before = log.stat().st_size if log.exists() else 0
        argv = (
            etcdctl, f"--endpoints=https://{LOOPBACK}:{port}", "--dial-timeout=1s",
            "--command-timeout=2s", f"--cacert={ca}", f"--cert={cert}", f"--key={key}",
            "put", "/kpki/prove", "ok",
        )  # fmt: skip
        check.argv = argv
        env = {**self.base_env, "ETCDCTL_API": "3"}
        code, stdout, stderr = run(argv, env)
        ok = code == 0 and stdout.strip() == "OK"
        said = "OK" if ok else words(stderr or stdout)
        if not ok:
            time.sleep(0.2)  # etcd writes its log line as it hangs up
            said += _etcd_log_reason(log, before)
        self.judge(check, ok, said)
        return check

    # -- the API server

    def _apiserver(self, apiserver: dict[str, str]) -> None:
        spec = next((c for c in self.plan.certs if c.name == "apiserver"), None)
        kubeconfigs = self._kubeconfig_files()
        if not apiserver and spec is None:
            return
        where = "kube-apiserver.flags"
        row = spec.name if spec else ""
        cert = self._flag_file(apiserver, "--tls-cert-file", where, self._row_file(row))
        key = self._flag_file(
            apiserver, "--tls-private-key-file", where, self._row_file(row, "key_file")
        )
        client_ca = self._flag_file(apiserver, "--client-ca-file", where, self._row_file(row, "ca"))
        names = self._apiserver_names(spec, kubeconfigs)
        start = Check("apiserver", "openssl s_server presents the apiserver certificate",
                      "openssl", ACCEPT)  # fmt: skip
        missing = [p for p in (cert, key, client_ca) if p is None or not p.is_file()]
        if missing or cert is None or key is None or client_ca is None:
            wanted = [self._row_file(row), self._row_file(row, "key_file")]
            absent = [f for f in wanted if f and not (self.out / f).is_file()]
            start.status = FAIL
            start.said = "nothing to serve: " + (
                f"{', '.join(absent)} not in the folder (its step did not finish)"
                if absent
                else "a file kube-apiserver.flags names is missing"
            )
            self.add(start)
            for label, path, _host in kubeconfigs:  # kubectl can still read each kubeconfig
                self._kubectl_view(label, path)
            return
        with self._https(start, cert, key, client_ca) as port:
            if port is None:
                return
            for label, path, host in kubeconfigs:
                self._kubectl_kubeconfig(label, path, host, port)
            first = next((k for k in self.plan.kubeconfigs), None)
            reached = False
            for name in names:
                if first is not None:
                    path = self.out / first.file
                    check = self._kubectl_kubeconfig(
                        first.file, path, name, port, tag=f"by the name {name}"
                    )
                    reached = reached or check.passed
                self._curl(name, port, first)
            if first is None:
                return
            what = f"kubectl --kubeconfig {first.file} with a client certificate from another CA"
            if not reached:
                self.add(Check("apiserver", what, "kubectl", REFUSE, NOT_RUN, UNPROVEN))
                return
            _fca, fcert, fkey = self.foreign_client()
            self._kubectl_kubeconfig(
                first.file, self.out / first.file, names[0], port,
                tag="with a client certificate from another CA", client=(fcert, fkey),
                expect=REFUSE,
            )  # fmt: skip

    def _apiserver_names(self, spec, kubeconfigs) -> list[str]:
        names = list(spec.dns) + list(spec.ips) if spec is not None else []
        for _label, _path, host in kubeconfigs:
            if host and host not in names and "$" not in host:
                names.append(host)
        return names

    def _kubeconfig_files(self) -> list[tuple[str, Path, str]]:
        """(file, path, host its server URL names) for each kubeconfig of the plan, the
        document's verbatim ones (components read by kubectl) included."""
        out = [(k.file, self.out / k.file, _host(k.server)) for k in self.plan.kubeconfigs]
        for comp in self.plan.components:
            if comp.program == "kubectl":
                path = self.out / comp.file
                out.append((comp.file, path, _host(_server_in(path))))
        return out

    @contextmanager
    def _https(self, check: Check, cert: Path, key: Path, client_ca: Path) -> Iterator[int | None]:
        """`openssl s_server -WWW` with cert/key, requiring a client certificate from
        client_ca, serving a PodList at /api/v1/pods and ok at /healthz."""
        openssl = self.program(check, "openssl")
        if openssl is None:
            self.add(check)
            yield None
            return
        www = self.work / f"www-{cert.stem}"
        (www / "api" / "v1").mkdir(parents=True, exist_ok=True)
        (www / "api" / "v1" / "pods").write_text(json.dumps(POD_LIST))
        (www / "healthz").write_text("ok")
        (port,) = free_ports(1)
        argv = (
            openssl, "s_server", "-WWW", "-quiet", "-accept", f"{LOOPBACK}:{port}",
            "-cert", str(cert), "-key", str(key), "-CAfile", str(client_ca),
            "-Verify", "1", "-verify_return_error",
        )  # fmt: skip
        log = self.work / f"s_server-{cert.stem}.log"
        proc = self.servers.start(argv, log, cwd=www)
        if not self.servers.wait_port(proc, port):
            check.argv = argv
            self.judge(check, False, words(log.read_text(errors="replace")))
            self.add(check)
            yield None
            return
        try:
            yield port
        finally:
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait(timeout=5)

    def _kubectl_kubeconfig(
        self,
        label: str,
        path: Path,
        host: str,
        port: int,
        tag: str = "",
        client: tuple[Path, Path] | None = None,
        expect: str = ACCEPT,
    ) -> Check:
        what = f"kubectl --kubeconfig {label}" + (f" {tag}" if tag else f" (dials {host})")
        check = self.add(Check("apiserver", what, "kubectl", expect))
        if not path.is_file():
            check.status, check.said = FAIL, f"{label} is not in the folder (its step did not run)"
            return check
        kubectl = self.program(check, "kubectl")
        if kubectl is None:
            return check
        mapped = self._map_kubeconfig(path, label)
        if client is not None:
            mapped = self._with_client(mapped, label, client)
            if mapped is None:
                check.status, check.said = NOT_RUN, f"{label} does not parse: no user to replace"
                return check
        argv = (
            kubectl, f"--kubeconfig={mapped}", f"--server=https://{LOOPBACK}:{port}",
            *((f"--tls-server-name={host}",) if host else ()),
            "get", "--raw", "/api/v1/pods",
        )  # fmt: skip
        check.argv = argv
        code, stdout, stderr = run(argv, self.base_env, cwd=self.home)
        ok = code == 0 and '"PodList"' in stdout
        said = "PodList" if ok else words(stderr or stdout)
        self.judge(check, ok, said)
        if expect == REFUSE and check.passed and "tls:" not in said:
            check.status = FAIL  # refused, but not by the TLS handshake: proves nothing
        return check

    def _with_client(self, path: Path, label: str, client: tuple[Path, Path]) -> Path | None:
        """A copy of the kubeconfig whose every user presents `client` (cert, key) instead,
        as files (an embedded certificate would win over a --client-certificate flag)."""
        import yaml

        try:
            data = yaml.safe_load(path.read_text(errors="replace"))
        except (OSError, yaml.YAMLError):
            return None
        if not isinstance(data, dict) or not data.get("users"):
            return None
        for entry in data["users"]:
            if isinstance(entry, dict):
                entry["user"] = {"client-certificate": str(client[0]), "client-key": str(client[1])}
        copy = self.work / "kubeconfigs" / ("foreign-" + label.replace("/", "_"))
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(yaml.safe_dump(data))
        copy.chmod(0o600)
        return copy

    def _kubectl_view(self, label: str, path: Path) -> None:
        """`kubectl config view`: does kubectl load the file at all (no server needed)?"""
        what = f"kubectl config view --kubeconfig {label} (no API server to dial)"
        check = self.add(Check("apiserver", what, "kubectl", ACCEPT))
        if not path.is_file():
            check.status, check.said = FAIL, f"{label} is not in the folder (its step did not run)"
            return
        kubectl = self.program(check, "kubectl")
        if kubectl is None:
            return
        argv = (kubectl, "config", "view", "-o", "json", f"--kubeconfig={path}")
        check.argv = argv
        code, stdout, stderr = run(argv, self.base_env, cwd=self.home)
        self.judge(check, code == 0, "loaded" if code == 0 else words(stderr or stdout))

    def _map_kubeconfig(self, path: Path, label: str) -> Path:
        """A copy whose file paths name the folder's files; the file itself when it does not
        parse as YAML (kubectl then says what is wrong with it) or names no files."""
        import yaml

        try:
            data = yaml.safe_load(path.read_text(errors="replace"))
        except (OSError, yaml.YAMLError):
            return path
        if not isinstance(data, dict):
            return path
        changed = False
        for section, item, keys in (
            ("clusters", "cluster", ("certificate-authority",)),
            ("users", "user", ("client-certificate", "client-key")),
        ):
            for entry in data.get(section) or ():
                body = entry.get(item) if isinstance(entry, dict) else None
                for key in keys if isinstance(body, dict) else ():
                    if isinstance(body.get(key), str):
                        found = self._kubeconfig_path(path, body[key], f"{label} {key}")
                        if found is not None:
                            body[key] = str(found)
                            changed = True
        if not changed:
            return path
        copy = self.work / "kubeconfigs" / label.replace("/", "_")
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(yaml.safe_dump(data))
        copy.chmod(0o600)
        return copy

    def _kubeconfig_path(self, kubeconfig: Path, value: str, where: str) -> Path | None:
        """A kubeconfig's file: a relative name resolves from the kubeconfig's folder."""
        if not value.startswith("/"):
            full = (kubeconfig.parent / value).resolve()
            with suppress(ValueError):
                value = full.relative_to(self.out).as_posix()
        return self.folder.find(value, where)

    def _curl(self, name: str, port: int, kubeconfig) -> None:
        """The document's call, `curl https://kube-apiserver:6443/api/v1/pods --key admin.key
        --cert admin.crt --cacert ca.crt`, by this name; --connect-to sends it to 127.0.0.1."""
        check = self.add(Check("apiserver", f"the document's curl call to https://{_bracket(name)}:6443",
                               "curl", ACCEPT))  # fmt: skip
        curl = self.program(check, "curl")
        if curl is None:
            return
        if kubeconfig is not None:
            key, cert, ca = kubeconfig.key_file, kubeconfig.cert_file, kubeconfig.ca_file
        else:
            key, cert, ca = "admin.key", "admin.crt", "ca.crt"
        url = f"https://{_bracket(name)}:6443/api/v1/pods"
        argv = (
            curl, "-q", "-sS", url, "--key", key, "--cert", cert, "--cacert", ca,
            "--connect-to", f"{_bracket(name)}:6443:{LOOPBACK}:{port}",
            "--max-time", str(TIMEOUT - 5),
        )  # fmt: skip
        check.argv = argv
        code, stdout, stderr = run(argv, self.base_env, cwd=self.out)
        ok = code == 0 and '"PodList"' in stdout
        self.judge(check, ok, "PodList" if ok else words(stderr or stdout))

    # -- kubelets

    def _kubelets(self, apiserver: dict[str, str]) -> None:
        # the KubeletConfiguration files (a node's kubelet-NODE.flags only points at one)
        configs = [p for p in self.component("kubelet") if p.suffix in (".yaml", ".yml")]
        if not configs:
            return
        where = "kube-apiserver.flags"
        client = "apiserver-kubelet-client"
        ca = self._flag_file(
            apiserver, "--kubelet-certificate-authority", where, self._row_file(client, "ca")
        )
        cert = self._flag_file(
            apiserver, "--kubelet-client-certificate", where, self._row_file(client)
        )
        key = self._flag_file(
            apiserver, "--kubelet-client-key", where, self._row_file(client, "key_file")
        )
        for config in configs:
            self._kubelet(config, ca, cert, key)

    def _kubelet(self, config: Path, ca: Path | None, cert: Path | None, key: Path | None) -> None:
        import yaml

        start = Check("kubelet", f"{config.name}: openssl s_server presents tlsCertFile",
                      "openssl", ACCEPT)  # fmt: skip
        try:
            data = yaml.safe_load(config.read_text(errors="replace")) or {}
        except yaml.YAMLError as exc:
            start.status, start.said = FAIL, f"not YAML: {words(str(exc))}"
            self.add(start)
            return
        x509 = (
            ((data.get("authentication") or {}).get("x509") or {}) if isinstance(data, dict) else {}
        )
        where = config.name
        serving = self.folder.find(str(data.get("tlsCertFile", "")), f"{where} tlsCertFile")
        serving_key = self.folder.find(
            str(data.get("tlsPrivateKeyFile", "")), f"{where} tlsPrivateKeyFile"
        )
        client_ca = self.folder.find(str(x509.get("clientCAFile", "")), f"{where} clientCAFile")
        missing = [
            p
            for p in (serving, serving_key, client_ca, ca, cert, key)
            if p is None or not p.is_file()
        ]
        if missing or serving is None:
            start.status, start.said = FAIL, "a file it names is missing: nothing to serve"
            self.add(start)
            return
        spec = self.cert_spec(serving)
        node = _node_name(spec)
        ips = (
            [self.plan.values.get("node_ips", {}).get(node)]
            if isinstance(self.plan.values.get("node_ips"), dict)
            else []
        )
        names = [n for n in (node, *(spec.ips if spec else ()), *ips) if n]
        with self._https(start, serving, serving_key, client_ca) as port:
            if port is None:
                return
            for name in dict.fromkeys(names):
                what = f"{serving.name} by the name {name}, to the apiserver's kubelet client"
                check = self.add(Check("kubelet", what, "kubectl", ACCEPT))
                kubectl = self.program(check, "kubectl")
                if kubectl is None:
                    continue
                argv = (
                    kubectl, f"--server=https://{LOOPBACK}:{port}", f"--tls-server-name={name}",
                    f"--certificate-authority={ca}", f"--client-certificate={cert}",
                    f"--client-key={key}", "get", "--raw", "/healthz",
                )  # fmt: skip
                check.argv = argv
                code, stdout, stderr = run(argv, self.base_env, cwd=self.home)
                ok = code == 0 and stdout.strip() == "ok"
                self.judge(check, ok, "ok" if ok else words(stderr or stdout))


def _etcd_log_reason(log: Path, since: int) -> str:
    """What etcd wrote about the connection it hung up on (etcdctl itself only times out)."""
    try:
        with open(log, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [
        ln for ln in text.splitlines() if "rejected connection" in ln or "bad certificate" in ln
    ]
    if not lines:
        return ""
    found = re.search(r'error[":]*\s*"([^"]+)"', lines[-1])
    return f"; etcd's log: {found.group(1) if found else lines[-1].strip()}"


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _server_in(path: Path) -> str:
    """The first `server:` of a kubeconfig read as text (it may not parse as YAML)."""
    try:
        for line in path.read_text(errors="replace").splitlines():
            if line.strip().startswith("server:"):
                return line.split("server:", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _node_name(spec) -> str:
    if spec is None:
        return ""
    if spec.for_each:
        return spec.for_each[1]
    cn = spec.common_name
    return (
        cn.split("system:node:", 1)[1] if cn.startswith("system:node:") else (spec.dns or ("",))[0]
    )


def prove(plan: Plan, out: Path, groups: Sequence[str] = GROUPS) -> ProveResult:
    """Run every check against the folder; servers stopped and scratch removed when it returns
    (or raises: Ctrl-C included)."""
    return Prover(plan, out, groups).prove()


def result_text(result: ProveResult) -> str:
    """One line per check, grouped; the program's words after the verdict; the argv of each
    check that did not pass."""
    out = [f"prove: recipe {result.recipe}, folder {result.out}\n"]
    group = ""
    for check in result.checks:
        if check.group != group:
            group = check.group
            out.append(f"\n{group}\n")
        mark = {PASS: "PASS", FAIL: "FAIL", NOTE: "NOTE"}.get(check.status, check.status.upper())
        expect = "" if check.expect == ACCEPT else " (must be refused)"
        out.append(f"  {mark:<5} {check.what}{expect}\n")
        if check.said:
            out.append(f"        {check.program}: {check.said}\n")
        if check.status != PASS and check.argv:
            out.append(f"        $ {shlex.join(check.argv)}\n")
    passed = sum(c.passed for c in result.checks)
    notes = sum(c.status == NOTE for c in result.checks)
    failed = len(result.checks) - passed - notes
    out.append(
        f"\n{passed} passed, {failed} did not pass" + (f", {notes} notes" if notes else "") + "\n"
    )
    return "".join(out)
