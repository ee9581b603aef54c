"""A real 3-member etcd cluster on 127.0.0.1 with the generated certificates and flags files.

Each member runs with the TLS flags from its generated etcd-<peer>.flags (client TLS with
--client-cert-auth, peer TLS with --peer-client-cert-auth); the test adds only the URLs and the
data folder. etcdctl connects with the files kube-apiserver.flags names for etcd
(--etcd-cafile/--etcd-certfile/--etcd-keyfile), as the API server would.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kpki_openssl.cli import main as cli_main
from tests.conftest import ETCD_PEERS, need_program
from tests.processes import LOOPBACK, Processes, flag_values, free_ports, read_flags, wait_for

pytestmark = pytest.mark.real


class Cluster:
    def __init__(self, pki: Path, client_ports: dict[str, int]) -> None:
        self.pki = pki
        self.client_ports = client_ports
        self.etcdctl = need_program("etcdctl")
        apiserver = flag_values(pki / "kube-apiserver.flags")
        self.client_tls = {
            "--cacert": apiserver["--etcd-cafile"],
            "--cert": apiserver["--etcd-certfile"],
            "--key": apiserver["--etcd-keyfile"],
        }

    def endpoint(self, member: str) -> str:
        return f"https://{LOOPBACK}:{self.client_ports[member]}"

    def ctl(
        self,
        *args: str,
        members: tuple[str, ...] = ETCD_PEERS,
        tls: dict | None = None,
        seconds: int = 5,
    ) -> subprocess.CompletedProcess:
        tls = self.client_tls if tls is None else tls
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
        env["ETCDCTL_API"] = "3"
        argv = [
            self.etcdctl,
            f"--endpoints={','.join(self.endpoint(m) for m in members)}",
            f"--dial-timeout={min(seconds, 3)}s",
            f"--command-timeout={seconds}s",
            *(f"{k}={v}" for k, v in tls.items()),
            *args,
        ]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)


@pytest.fixture(scope="module")
def cluster(consumer_pki: Path, tmp_path_factory):
    etcd = need_program("etcd")
    need_program("etcdctl")
    work = tmp_path_factory.mktemp("etcd")
    ports = free_ports(2 * len(ETCD_PEERS))
    client_ports = dict(zip(ETCD_PEERS, ports[: len(ETCD_PEERS)]))
    peer_ports = dict(zip(ETCD_PEERS, ports[len(ETCD_PEERS) :]))
    initial = ",".join(f"{m}=https://{LOOPBACK}:{peer_ports[m]}" for m in ETCD_PEERS)
    procs = Processes()
    try:
        for member in ETCD_PEERS:
            client_url = f"https://{LOOPBACK}:{client_ports[member]}"
            peer_url = f"https://{LOOPBACK}:{peer_ports[member]}"
            argv = [
                etcd,
                *read_flags(consumer_pki / f"etcd-{member}.flags"),  # --name and all TLS flags
                f"--data-dir={work / member}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster={initial}",
                "--initial-cluster-state=new",
                "--initial-cluster-token=kpki-openssl-test",
            ]
            procs.start(argv, work / f"{member}.log")
        result = Cluster(consumer_pki, client_ports)
        wait_for(
            lambda: result.ctl("endpoint", "health", "--cluster").returncode == 0,
            "etcd cluster health",
            timeout=30,
            alive=procs,
        )
        result.logs = [work / f"{m}.log" for m in ETCD_PEERS]  # type: ignore[attr-defined]
        yield result
    finally:
        # the data is thrown away: no need to wait out the leader's hand-over on SIGTERM
        procs.stop(grace=1.0)


def test_three_members_healthy_over_mutual_tls(cluster: Cluster) -> None:
    health = cluster.ctl("endpoint", "health", "--cluster")
    assert health.returncode == 0, health.stderr
    lines = (health.stdout + health.stderr).splitlines()
    assert sum("is healthy" in ln for ln in lines) == 3, lines
    members = cluster.ctl("member", "list")
    assert members.returncode == 0, members.stderr
    for member in ETCD_PEERS:
        (row,) = [ln for ln in members.stdout.splitlines() if f", {member}, " in ln]
        assert ", started, " in row and "https://127.0.0.1:" in row, row


def test_put_on_one_member_read_through_another(cluster: Cluster) -> None:
    first, _second, third = ETCD_PEERS
    put = cluster.ctl("put", "/kpki/greeting", "written-via-etcdpeer1", members=(first,))
    assert put.returncode == 0 and put.stdout.strip() == "OK", put.stderr
    got = cluster.ctl("get", "/kpki/greeting", "--print-value-only", members=(third,))
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "written-via-etcdpeer1"


def test_client_certificate_from_another_ca_is_refused(cluster: Cluster, foreign_pki: Path) -> None:
    foreign = {
        "--cacert": cluster.client_tls["--cacert"],  # still trusts the real server
        "--cert": str(foreign_pki / "apiserver-etcd-client.crt"),
        "--key": str(foreign_pki / "apiserver-etcd-client.key"),
    }
    refused = cluster.ctl("get", "/kpki/greeting", members=(ETCD_PEERS[1],), tls=foreign, seconds=2)
    assert refused.returncode != 0
    assert "written-via" not in refused.stdout
    no_cert = cluster.ctl(
        "get",
        "/kpki/greeting",
        members=(ETCD_PEERS[1],),
        tls={"--cacert": foreign["--cacert"]},
        seconds=2,
    )
    assert no_cert.returncode != 0 and "written-via" not in no_cert.stdout
    # etcdctl only times out; etcd's own log says why it hung up on each client.
    logs = "".join(p.read_text(errors="replace") for p in cluster.logs)  # type: ignore[attr-defined]
    rejected = [ln for ln in logs.splitlines() if "rejected connection" in ln]
    assert any("certificate signed by unknown authority" in ln for ln in rejected), rejected[-5:]
    assert any("didn't provide a certificate" in ln for ln in rejected), rejected[-5:]


def test_flags_files_name_only_flags_etcd_accepts(consumer_pki: Path) -> None:
    """The flag names in every generated etcd-*.flags, checked against `etcd --help`."""
    etcd = need_program("etcd")
    shown = subprocess.run([etcd, "--help"], capture_output=True, text=True, timeout=30)
    help_text = shown.stdout + shown.stderr  # etcd versions differ in where --help goes
    files = sorted(consumer_pki.glob("etcd-*.flags"))
    assert [f.name for f in files] == [f"etcd-{m}.flags" for m in ETCD_PEERS]
    for path in files:
        for item in read_flags(path):
            name = item.split("=", 1)[0]
            assert f"  {name} " in help_text, f"{path.name}: etcd does not know {name}"


def test_only_the_apiserver_etcd_client_gets_in(cluster: Cluster) -> None:
    """etcd trusts etcd-ca alone (--trusted-ca-file): the kube-apiserver's etcd client, signed
    by it, writes and reads; a kubelet's, the admin's and the front-proxy client's certificates,
    signed by other CAs, are refused by etcd itself (its log says why)."""
    put = cluster.ctl("put", "/registry/kpki-check", "apiserver-ok", members=(ETCD_PEERS[0],))
    assert put.returncode == 0 and put.stdout.strip() == "OK", put.stderr
    got = cluster.ctl("get", "/registry/kpki-check", "--print-value-only", members=(ETCD_PEERS[0],))
    assert got.returncode == 0 and got.stdout.strip() == "apiserver-ok", got.stderr
    pki = cluster.pki
    outsiders = ("kubelet-client-node01", "admin", "front-proxy-client")
    # the three attempts at once: each waits out etcdctl's deadline
    with ThreadPoolExecutor(len(outsiders)) as pool:
        tries = dict(
            zip(
                outsiders,
                pool.map(
                    lambda name: cluster.ctl(
                        "put",
                        "/registry/evil",
                        name,
                        members=(ETCD_PEERS[2],),
                        seconds=2,
                        tls={
                            "--cacert": cluster.client_tls["--cacert"],
                            "--cert": str(pki / f"{name}.crt"),
                            "--key": str(pki / f"{name}.key"),
                        },
                    ),  # fmt: skip
                    outsiders,
                ),
            )
        )
    for name, done in tries.items():
        assert done.returncode != 0 and "OK" not in done.stdout, (name, done.stdout)
        assert "deadline exceeded" in done.stderr, (name, done.stderr)  # etcdctl's words
    evil = cluster.ctl("get", "/registry/evil", "--print-value-only", members=(ETCD_PEERS[0],))
    assert evil.returncode == 0 and evil.stdout.strip() == "", evil.stdout
    logs = "".join(p.read_text(errors="replace") for p in cluster.logs)  # type: ignore[attr-defined]
    rejected = [ln for ln in logs.splitlines() if "rejected connection" in ln]
    assert sum("certificate signed by unknown authority" in ln for ln in rejected) >= 3


def test_with_the_documents_single_ca_a_kubelet_writes_the_registry(tmp_path: Path) -> None:
    """--set etcd_ca=ca, the lesson's variant: etcd trusts the one cluster CA, so a node's
    kubelet client certificate writes /registry/... (what the separate etcd-ca prevents)."""
    etcd = need_program("etcd")
    pki = tmp_path / "pki"
    sets = ["--set", "etcd_ca=ca", "--set", "key_type=ecdsa", "--set", f"host_pki_dir={pki}"]
    steps = ["ca", "etcdserver", "etcdpeer1", "kubelet-client-node01", "etcd-etcdpeer1.flags"]
    assert cli_main(["run", *steps, "--quiet", "--out", str(pki), *sets]) == 0
    client, peer = (f"https://{LOOPBACK}:{p}" for p in free_ports(2))
    argv = [
        etcd, *read_flags(pki / "etcd-etcdpeer1.flags"), f"--data-dir={tmp_path / 'data'}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=etcdpeer1={peer}",
    ]  # fmt: skip
    procs = Processes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    ctl = [
        need_program("etcdctl"), f"--endpoints={client}", "--dial-timeout=3s",
        f"--cacert={pki / 'ca.crt'}", f"--cert={pki / 'kubelet-client-node01.crt'}",
        f"--key={pki / 'kubelet-client-node01.key'}",
    ]  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ctl, *args], capture_output=True, text=True, timeout=30, env=env)

    try:
        procs.start(argv, tmp_path / "etcd.log")
        wait_for(lambda: run("endpoint", "health").returncode == 0, "etcd", alive=procs)
        put = run("put", "/registry/evil", "from-a-kubelet")
        got = run("get", "/registry/evil", "--print-value-only")
    finally:
        procs.stop(grace=1.0)
    assert put.returncode == 0 and put.stdout.strip() == "OK", put.stderr
    assert got.stdout.strip() == "from-a-kubelet"
