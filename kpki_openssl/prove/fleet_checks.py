"""The checks of `prove --fleet`, each run on one host with that host's files only.

- files: each host holds exactly its map of `hosts` (path, mode, the folder's bytes), nothing else;
- etcd: each member starts from its own flags file at its address and they form one cluster
  (etcdctl on each member, with the member's own etcdserver files); the control plane host's
  etcd client (the files kube-apiserver.flags names) writes through --etcd-servers and reads the
  value back from every member;
- apiserver: an `openssl s_server` on the control plane host stands in for kube-apiserver
  (apiserver.crt, asking for a client certificate from --client-ca-file; no kube-apiserver
  runs); kubectl on each host, with each kubeconfig that host holds, reaches it by the
  kubeconfig's own server URL (its name is the advertise address in the host's /etc/hosts) and
  at the Service IP;
- kubelet: an `openssl s_server` on each node stands in for its kubelet (tlsCertFile from its
  KubeletConfiguration, clientCAFile); the control plane host dials it at the node's address with
  the --kubelet-* files of kube-apiserver.flags (kubectl: Go's TLS client, as the API server's);
- least privilege: no host but the control plane holds a CA's key or sa.key (by content, under
  any name), and etcd refuses each node's kubelet client certificate, by etcd's own log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kpki_openssl.base import processes, safeyaml
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.deploy.hosts import SIGNERS
from kpki_openssl.prove.fleet_report import ACCEPT, FAIL, NOT_RUN, NOTE, REFUSE, Check, words
from kpki_openssl.prove.folder import parse_flags

if TYPE_CHECKING:
    from kpki_openssl.prove.fleet import Fleet

CLIENT_PORT, PEER_PORT, APISERVER_PORT, KUBELET_PORT = 2379, 2380, 6443, 10250
POD_LIST = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}
READY = 25.0  # seconds for the etcd members to form their cluster
LAGGARD = 5.0  # seconds a member has to be healthy once another one is
_ETCDCTL = ("--dial-timeout=2s", "--command-timeout=3s")
_REFUSED = ("--dial-timeout=1s", "--command-timeout=1s")  # a TLS refusal comes at once
MAX_READ = 1 << 20


def run_all(fleet: Fleet) -> None:
    """Every check, in the order the groups are reported."""
    for host in fleet.layout.hosts:
        files(fleet, host.name)
    members = etcd_cluster(fleet)
    for plane in fleet.control_planes:
        etcd_client(fleet, plane, members)
    apiserver(fleet)
    kubelets(fleet)
    for host in fleet.layout.hosts:
        signing_keys(fleet, host.name)
    for node in fleet.nodes:
        etcd_refuses_node(fleet, node, members)


def _family(address: str) -> int:
    return 6 if ":" in address else 4


def _in_logs(address: str) -> tuple[str, ...]:
    """How etcd's logs write a remote address: 10.0.0.21:PORT, [fd00::21]:PORT, "10.0.0.21"."""
    return (f"{address}:", f"[{address}]:", f'"{address}"')


def _url(address: str, port: int) -> str:
    return f"https://[{address}]:{port}" if ":" in address else f"https://{address}:{port}"


def _flags(path: Path) -> dict[str, str]:
    """--flag=value lines of a host's flags file; {} when it is not there."""
    try:
        return parse_flags(path.read_text(errors="replace"))
    except OSError:
        return {}


def _component(fleet: Fleet, host: str, program: str, yaml: bool = False) -> str:
    """The host path of the first file of `program`'s component on the host ('' if none)."""
    by_file = {c.file: c for c in fleet.plan.components}
    for f in fleet.files(host):
        comp = by_file.get(f.source)
        if comp is not None and comp.program == program and (comp.format == "yaml") == yaml:
            return f.path
    return ""


def _quote(line: str) -> str:
    """The reason in one of etcd's log lines: from its `x509:`/`tls:` words on, unescaped."""
    line = line.replace('\\"', '"')
    start = min((i for i in (line.find("x509:"), line.find("tls:")) if i >= 0), default=-1)
    text = line[start:] if start >= 0 else line
    for end in ('", ', '"}', '")'):
        if end in text:
            text = text[: text.index(end)]
    text = text.strip()
    if text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1]  # the close of the log line's own parenthesis
    return text[:300]


def _etcd_words(logs: dict[str, Path], about: tuple[str, ...], since: dict[str, int]) -> str:
    """What etcd wrote, in any member's log, about a TLS failure naming one of `about`."""
    found = []
    for member, log in logs.items():
        try:
            with open(log, "rb") as f:
                f.seek(since.get(member, 0))
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not any(a in line for a in about):
                continue
            if any(k in line for k in ("x509:", "tls:", "bad certificate", "rejected connection")):
                found.append((0 if "x509:" in line else 1, member, _quote(line)))
    if not found:
        return ""
    _rank, member, said = min(found, key=lambda f: f[0])  # an x509 verdict first, if any
    return f"etcd on {member} logged: {said}"


def files(fleet: Fleet, host: str) -> None:
    """The host holds its map, each file with its mode and the folder's bytes, and no other."""
    wanted = {f.path: f for f in fleet.files(host)}
    root = fleet.root(host)
    check = fleet.result.add(
        Check(
            "files",
            host,
            f"holds exactly its {len(wanted)} files of `hosts`, each with its "
            "mode and the folder's bytes",
            "prove",
        )
    )
    problems = []
    for path, f in wanted.items():
        there = fleet.on_host(host, path)
        if not there.is_file() or there.is_symlink():
            problems.append(f"{path} is missing (hosts: {f.source})")
            continue
        mode = there.stat().st_mode & 0o7777
        if mode != f.mode:
            problems.append(f"{path} has mode {mode:04o}, not {f.mode:04o}")
        if there.stat().st_uid != 0:
            problems.append(f"{path} is not owned by root")
        if _read(there) != _read(fleet.out / f.source):
            problems.append(f"{path} differs from the folder's {f.source}")
    for there in sorted(root.rglob("*")):
        if there.is_dir() and not there.is_symlink():
            continue
        path = "/" + there.relative_to(root).as_posix()
        if path not in wanted:
            problems.append(f"{path} is there, and hosts gives {host} no such file")
    check.judge(not problems, "; ".join(problems) or f"{len(wanted)} files, nothing else")


def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_READ)
    except OSError:
        return None


def signing_keys(fleet: Fleet, host: str) -> None:
    """A host that signs nothing holds no CA key and no bare signing key (sa.key), whatever the
    file is called: compared by content with the folder's."""
    programs = fleet.layout.host(host).programs
    if set(programs) & set(SIGNERS):
        return
    keys = {c.key_file: f"the {c.name} CA's private key" for c in fleet.plan.certs if c.is_ca}
    keys.update({k.key_file: "a signing key" for k in fleet.plan.keypairs})
    by_bytes = {}
    for name, what in keys.items():
        data = _read(fleet.out / name)
        if data:
            by_bytes[data] = f"{name}, {what}"
    names = ", ".join(keys)
    what = f"holds no CA key and no service-account key ({names})"
    check = fleet.result.add(Check("least privilege", host, what, "prove"))
    root = fleet.root(host)
    held = []
    count = 0
    for there in sorted(root.rglob("*")):
        if there.is_file() and not there.is_symlink():
            count += 1
            what = by_bytes.get(_read(there) or b"")
            if what is not None:
                held.append(f"{host} holds /{there.relative_to(root).as_posix()} ({what})")
    check.judge(not held, "; ".join(held) or f"none among its {count} files")


# ---------------------------------------------------------------- etcd


def etcd_cluster(fleet: Fleet) -> dict[str, dict]:
    """Start every member from its own flags file at its address; each must be healthy (asked
    on itself, with its own files) and the cluster must list every member at its peer URL.
    Returns, by member: its name, client URL, log and the files etcdctl used there."""
    members: dict[str, dict] = {}
    cluster = []
    for host in fleet.members:
        path = _component(fleet, host, "etcd")
        flags = _flags(fleet.on_host(host, path)) if path else {}
        name = flags.get("--name", host)
        address = fleet.address(host)
        members[host] = {
            "name": name,
            "flags": flags,
            "path": path,
            "client": _url(address, CLIENT_PORT),
            "peer": _url(address, PEER_PORT),
        }
        cluster.append(f"{name}={members[host]['peer']}")
    for host, member in members.items():
        if not member["flags"]:
            fleet.result.add(
                Check(
                    "etcd",
                    host,
                    "etcd starts from the member's flags file",
                    "etcd",
                    status=FAIL,
                    said=f"{member['path'] or 'its etcd flags file'} is not on {host}",
                )
            )
            continue
        argv = ["etcd", *(f"{k}={v}" for k, v in member["flags"].items())]
        argv += [
            f"--data-dir={fleet.state(host) / 'etcd-data'}",
            f"--listen-client-urls={member['client']}",
            f"--advertise-client-urls={member['client']}",
            f"--listen-peer-urls={member['peer']}",
            f"--initial-advertise-peer-urls={member['peer']}",
            f"--initial-cluster={','.join(cluster)}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token=kpki-fleet-{fleet.token}",
        ]
        member["proc"], member["log"] = fleet.start(host, argv, "etcd")
        member["argv"] = tuple(argv)
    started = {h: m for h, m in members.items() if "proc" in m}
    healthy: dict[str, str] = {}
    last: dict[str, processes.Finished] = {}
    deadline = time.monotonic() + READY
    while len(healthy) < len(started) and time.monotonic() < deadline:
        for host, member in started.items():
            if host in healthy or member["proc"].poll() is not None:
                continue
            done = fleet.run(host, _member_ctl(member, "endpoint", "health"), ETCDCTL_API="3")
            last[host] = done
            if done.ok:
                healthy[host] = words(done.stdout + done.stderr)
                # a cluster is up: the others are healthy within moments, or never
                deadline = min(deadline, time.monotonic() + LAGGARD)
        if len(healthy) < len(started):
            time.sleep(0.3)
    logs = {h: m["log"] for h, m in started.items()}
    for host, member in started.items():
        what = (
            f"etcd member {member['name']} at {member['peer']} is healthy in the cluster "
            "(etcdctl endpoint health on the member, with its own etcdserver files)"
        )
        check = fleet.result.add(Check("etcd", host, what, "etcdctl"))
        if host in healthy:
            check.judge(True, healthy[host])
            continue
        check.argv = member["argv"]
        if member["proc"].poll() is not None:
            said = words(member["log"].read_text(errors="replace"))
            check.program = "etcd"
        else:
            done = last.get(host)
            said = words(done.stderr or done.stdout) if done else "never answered"
        about = (*_in_logs(fleet.address(host)), member["name"])
        reason = _etcd_words(logs, about, {})
        check.judge(False, said + (f"; {reason}" if reason else ""))
    if healthy:
        _member_list(fleet, members, next(iter(healthy)))
    return {h: m for h, m in members.items() if h in healthy}


def _member_ctl(member: dict, *command: str) -> list[str]:
    flags = member["flags"]
    return [
        "etcdctl", f"--endpoints={member['client']}", *_ETCDCTL,
        f"--cacert={flags.get('--trusted-ca-file', '')}",
        f"--cert={flags.get('--cert-file', '')}", f"--key={flags.get('--key-file', '')}",
        *command,
    ]  # fmt: skip


def _member_list(fleet: Fleet, members: dict[str, dict], host: str) -> None:
    """The cluster, as one member sees it: every member started, at its peer URL."""
    want = {m["name"]: m["peer"] for m in members.values()}
    what = f"the cluster lists all {len(want)} members, each started at its peer address"
    check = fleet.result.add(Check("etcd", host, what, "etcdctl"))
    done = fleet.run(
        host, _member_ctl(members[host], "member", "list", "-w", "json"), ETCDCTL_API="3"
    )
    check.argv = done.argv
    try:
        listed = json.loads(done.stdout).get("members", [])
    except (ValueError, AttributeError):
        check.judge(False, words(done.stderr or done.stdout))
        return
    seen = {m.get("name", ""): (m.get("peerURLs") or [""])[0] for m in listed}
    lacking = [f"{n} ({u})" for n, u in want.items() if seen.get(n) != u]
    said = ", ".join(f"{n} {u}" for n, u in seen.items() if n) or "none started"
    check.judge(not lacking, said + (f"; not started: {', '.join(lacking)}" if lacking else ""))


def etcd_client(fleet: Fleet, plane: str, members: dict[str, dict]) -> None:
    """The API server's etcd client, from the control plane host: a write through
    --etcd-servers, read back from each of them."""
    flags = _flags(fleet.on_host(plane, _component(fleet, plane, "kube-apiserver")))
    servers = [s for s in flags.get("--etcd-servers", "").split(",") if s]
    tls = [
        f"--cacert={flags.get('--etcd-cafile', '')}",
        f"--cert={flags.get('--etcd-certfile', '')}",
        f"--key={flags.get('--etcd-keyfile', '')}",
    ]
    cert = flags.get("--etcd-certfile", "the etcd client certificate").rsplit("/", 1)[-1]
    value = f"written-from-{plane}-{fleet.token}"
    what = f"{cert} writes through --etcd-servers ({', '.join(servers) or 'none'})"
    check = fleet.result.add(Check("etcd", plane, what, "etcdctl"))
    if not servers:
        check.judge(False, "kube-apiserver.flags on the host names no --etcd-servers")
        return
    argv = ["etcdctl", f"--endpoints={','.join(servers)}", *_ETCDCTL, *tls,
            "put", "/kpki/fleet", value]  # fmt: skip
    check.argv = tuple(argv)
    done = fleet.run(plane, argv, ETCDCTL_API="3")
    ok = done.ok and done.stdout.strip() == "OK"
    check.judge(ok, "OK" if ok else words(done.stderr or done.stdout) + _nobody(fleet, servers))
    for server in servers:
        check = fleet.result.add(
            Check("etcd", plane, f"{cert} reads the value back from {server}", "etcdctl")
        )
        argv = ["etcdctl", f"--endpoints={server}", *_ETCDCTL, *tls,
                "get", "/kpki/fleet", "--print-value-only"]  # fmt: skip
        check.argv = tuple(argv)
        if not ok:
            check.status, check.said = NOT_RUN, "nothing was written"
            continue
        done = fleet.run(plane, argv, ETCDCTL_API="3")
        got = done.stdout.strip()
        check.judge(
            done.ok and got == value,
            got if done.ok else words(done.stderr) + _nobody(fleet, [server]),
        )


def _nobody(fleet: Fleet, urls: list[str]) -> str:
    """A note when a URL dials an address no etcd member of the fleet has."""
    own = {fleet.address(h) for h in fleet.members}
    strays = [u for u in urls if (urlsplit(u).hostname or "") not in own]
    return f" (no etcd member of the fleet is at {', '.join(strays)})" if strays else ""


# ---------------------------------------------------------------- stand-ins


def _stand_in(
    fleet: Fleet,
    host: str,
    name: str,
    port: int,
    cert: str,
    key: str,
    ca: str,
    pages: dict[str, str],
    check: Check,
) -> bool:
    """`openssl s_server -WWW` on the host presenting cert/key, asking for a client certificate
    from ca, serving `pages` from a folder on the host's tmpfs; True once it listens."""
    www = f"/run/kpki/www-{name}"
    for page, text in pages.items():
        target = fleet.hosts[host].inside(f"{www}/{page}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    argv = ("openssl", "s_server", "-WWW", "-quiet", "-accept", str(port), "-cert", cert,
            "-key", key, "-CAfile", ca, "-Verify", "1", "-verify_return_error")  # fmt: skip
    check.argv = argv
    proc, log = fleet.start(host, argv, name, wd=www)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        done = fleet.run(host, ("ss", "-Hltn", "sport", "=", f":{port}"))
        if done.ok and done.stdout.strip():
            return True
        time.sleep(0.1)
    check.judge(False, words(log.read_text(errors="replace")) or "it did not listen")
    return False


def apiserver(fleet: Fleet) -> None:
    """The kube-apiserver stand-in on the first control plane host; kubectl on every host with
    each kubeconfig it holds, by the kubeconfig's URL and at the Service IP."""
    if not fleet.control_planes:
        return
    plane = fleet.control_planes[0]
    flags = _flags(fleet.on_host(plane, _component(fleet, plane, "kube-apiserver")))
    cert = flags.get("--tls-cert-file", "")
    at = [fleet.address(plane), fleet.result.service_ip]
    what = (
        f"openssl s_server stands in for kube-apiserver (no kube-apiserver runs): it presents "
        f"{cert.rsplit('/', 1)[-1] or 'no certificate'} on :{APISERVER_PORT}, reached at "
        f"{' and '.join(a for a in at if a)}"
    )
    start = fleet.result.add(Check("apiserver", plane, what, "openssl"))
    pages = {"api/v1/pods": json.dumps(POD_LIST), "healthz": "ok"}
    if not _stand_in(
        fleet,
        plane,
        "apiserver",
        APISERVER_PORT,
        cert,
        flags.get("--tls-private-key-file", ""),
        flags.get("--client-ca-file", ""),
        pages,
        start,
    ):
        return
    start.judge(True, "listening")
    kubeconfigs = {k.file: k for k in fleet.plan.kubeconfigs}
    for host in fleet.layout.hosts:
        for f in fleet.files(host.name):
            config = kubeconfigs.get(f.source)
            if config is None:
                continue
            server = config.server
            name = urlsplit(server).hostname or ""
            named = name and not name.replace(".", "").isdigit() and ":" not in name
            via = f" ({name} is {fleet.address(plane)} in its /etc/hosts)" if named else ""
            _kubectl(fleet, host.name, f.path, f"by its own URL {server}{via}", ())
            service = fleet.result.service_ip
            if not service:
                continue
            url = _url(service, APISERVER_PORT)
            if _family(service) not in {_family(a) for a in fleet.hosts[host.name].addresses}:
                what = f"kubectl --kubeconfig {f.path} to the Service IP {url}"
                said = (
                    f"not tried: {host.name} has no IPv{_family(service)} address (in a cluster, "
                    "kube-proxy's rule on the host itself would take it)"
                )
                fleet.result.add(Check("apiserver", host.name, what, "kubectl", ACCEPT, NOTE, said))
                continue
            _kubectl(fleet, host.name, f.path, f"at the Service IP {url}", (f"--server={url}",))


def _kubectl(fleet: Fleet, host: str, path: str, how: str, extra: tuple[str, ...]) -> None:
    what = f"kubectl --kubeconfig {path} reaches the kube-apiserver stand-in {how}"
    check = fleet.result.add(Check("apiserver", host, what, "kubectl"))
    argv = ("kubectl", f"--kubeconfig={path}", *extra, "get", "--raw", "/api/v1/pods")
    check.argv = argv
    done = fleet.run(host, argv)
    ok = done.ok and '"PodList"' in done.stdout
    check.judge(ok, "PodList" if ok else words(done.stderr or done.stdout))


def kubelets(fleet: Fleet) -> None:
    """A kubelet stand-in on each node (its KubeletConfiguration's files); the control plane
    host dials each at the node's address with its --kubelet-* files."""
    if not fleet.control_planes:
        return
    plane = fleet.control_planes[0]
    flags = _flags(fleet.on_host(plane, _component(fleet, plane, "kube-apiserver")))
    for node in fleet.nodes:
        path = _component(fleet, node, "kubelet", yaml=True)
        problem = ""
        data = {}
        if not fleet.on_host(node, path).exists():
            problem = f"{path} is not on {node}"
        else:
            try:
                data = safeyaml.load_file(fleet.on_host(node, path), path) or {}
            except KpkiError as exc:
                problem = words(str(exc))
        if problem:
            fleet.result.add(
                Check(
                    "kubelet",
                    node,
                    "its KubeletConfiguration reads",
                    "prove",
                    status=FAIL,
                    said=problem,
                )
            )
            continue
        x509 = (
            ((data.get("authentication") or {}).get("x509") or {}) if isinstance(data, dict) else {}
        )
        cert = str(data.get("tlsCertFile", "")) if isinstance(data, dict) else ""
        key = str(data.get("tlsPrivateKeyFile", "")) if isinstance(data, dict) else ""
        what = (
            f"openssl s_server stands in for the kubelet: it presents {cert.rsplit('/', 1)[-1]} "
            f"(tlsCertFile of {path}) on :{KUBELET_PORT}"
        )
        start = fleet.result.add(Check("kubelet", node, what, "openssl"))
        if not _stand_in(
            fleet,
            node,
            "kubelet",
            KUBELET_PORT,
            cert,
            key,
            str(x509.get("clientCAFile", "")),
            {"healthz": "ok"},
            start,
        ):
            continue
        start.judge(True, "listening")
        url = _url(fleet.address(node), KUBELET_PORT)
        client = flags.get("--kubelet-client-certificate", "").rsplit("/", 1)[-1]
        what = f"dials the kubelet stand-in on {node} at {url} with {client}"
        check = fleet.result.add(Check("kubelet", plane, what, "kubectl"))
        argv = (
            "kubectl",
            f"--server={url}",
            f"--certificate-authority={flags.get('--kubelet-certificate-authority', '')}",
            f"--client-certificate={flags.get('--kubelet-client-certificate', '')}",
            f"--client-key={flags.get('--kubelet-client-key', '')}",
            "get",
            "--raw",
            "/healthz",
        )
        check.argv = argv
        done = fleet.run(plane, argv)
        ok = done.ok and done.stdout.strip() == "ok"
        check.judge(ok, "ok" if ok else words(done.stderr or done.stdout))


# ---------------------------------------------------------------- least privilege


def etcd_refuses_node(fleet: Fleet, node: str, members: dict[str, dict]) -> None:
    """etcd refuses the node's kubelet client certificate (from its kubelet kubeconfig), said
    by etcd's own log; with one CA for etcd and the kubelets it gets in, and that is a note."""
    config = next(
        (
            k
            for k in fleet.plan.kubeconfigs
            if any(f.source == k.file for f in fleet.files(node))
            and _common_name(fleet, k.cert_file).startswith("system:node:")
        ),
        None,
    )
    if config is None or not members:
        return
    path = next(f.path for f in fleet.files(node) if f.source == config.file)
    cert, key = _client_files(fleet, node, path)
    host, member = next(iter(members.items()))
    spec = next((c for c in fleet.plan.certs if c.cert_file == config.cert_file), None)
    trusted = member["flags"].get("--trusted-ca-file", "").rsplit("/", 1)[-1]
    signer = next((c.cert_file for c in fleet.plan.certs if spec and c.name == spec.ca), "")
    same = signer == trusted
    what = (
        f"etcd on {host} ({member['client']}) refuses {node}'s kubelet client certificate "
        f"{config.cert_file} (signed by {signer}; etcd trusts {trusted})"
    )
    if same:
        what = (
            f"etcd on {host} lets in {node}'s kubelet client certificate: {trusted} signs etcd's "
            "clients and every kubelet (no separate etcd CA)"
        )
    check = fleet.result.add(
        Check("least privilege", node, what, "etcdctl", ACCEPT if same else REFUSE)
    )
    if not cert:
        there = fleet.on_host(node, path).is_file()
        check.status = FAIL
        check.said = f"{path} names no client certificate" if there else f"{path} is not on {node}"
        return
    argv = ("etcdctl", f"--endpoints={member['client']}", *_REFUSED,
            "--insecure-skip-tls-verify",  # the node has no etcd CA: it is etcd's verdict we want
            f"--cert={cert}", f"--key={key}", "put", "/kpki/from-a-node", "x")  # fmt: skip
    check.argv = argv
    since = {host: member["log"].stat().st_size}
    done = fleet.run(node, argv, ETCDCTL_API="3")
    if done.ok:
        check.judge(True, "OK: etcd let it in")
    else:
        time.sleep(0.3)  # etcd writes its line as it hangs up
        reason = _etcd_words({host: member["log"]}, _in_logs(fleet.address(node)), since)
        check.judge(False, words(done.stderr or done.stdout) + (f"; {reason}" if reason else ""))
        if check.passed and not reason:
            check.status = FAIL  # refused, but not by etcd's TLS check: that proves nothing
            check.said += "; etcd logged no refusal of this node"
    if same and check.status in ("pass", "fail"):
        check.status = NOTE


def _common_name(fleet: Fleet, cert_file: str) -> str:
    spec = next((c for c in fleet.plan.certs if c.cert_file == cert_file), None)
    return spec.common_name if spec is not None else ""


def _client_files(fleet: Fleet, node: str, path: str) -> tuple[str, str]:
    """The client certificate and key a kubeconfig on the node names (host paths; embedded
    data is written to the node's tmpfs first)."""
    try:
        data = safeyaml.load_file(fleet.on_host(node, path), path) or {}
        user = (data.get("users") or [{}])[0].get("user") or {}
    except (KpkiError, AttributeError, IndexError):
        return "", ""
    folder = str(Path(path).parent)
    out = []
    for field, name in (("client-certificate", "crt"), ("client-key", "key")):
        if user.get(field):
            value = str(user[field])
            out.append(value if value.startswith("/") else f"{folder}/{value}")
        elif user.get(f"{field}-data"):
            import base64

            where = f"/run/kpki/kubelet-client.{name}"
            target = fleet.hosts[node].inside(where)
            target.write_bytes(base64.b64decode(user[f"{field}-data"]))
            target.chmod(0o600)
            out.append(where)
        else:
            out.append("")
    return out[0], out[1]
