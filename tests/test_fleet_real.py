"""`prove --fleet` for real: the bundled recipe with 3 etcd members and 3 nodes, each host in a
network namespace of its own, installed by ansible-playbook over ssh (--check, for real, then
again), every check run on its own host. Then a broken fleet (an etcd peer certificate without
its IP, a host's file removed, a CA key where it must not be), each fault named by host and
program; and Ctrl-C in the middle. Each leaves `ip netns list`, the mount table and the process
table as they were. Last, a ca rotation's stage playbooks (`export --rotate-ca`) on a fleet.
The fleets of this file run one after another (one file stays on one pytest-xdist process):
each compares the machine's namespaces and processes before and after.

Needs root, iproute2, openssh-server, ansible-core, etcd, kubectl and openssl: on a user's
machine without them the tests skip saying which; under CI=true they fail instead. The file
costs three fleets, about a minute on two shared cores: the good one ~20-25 s (three Ansible
runs), the broken one ~20-30 s (etcd2 is given time to join), Ctrl-C ~8 s.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kpki_openssl.cli import main as cli_main
from tests.conftest import IN_CI, REPO, need_program, need_root
from tests.test_ansible_export import FLEET

pytestmark = [pytest.mark.real, pytest.mark.long]

SETS = [*FLEET, "--set", "key_type=ecdsa"]  # ECDSA: the PKI builds in ~2 s
HOSTS = ("etcd1", "etcd2", "etcd3", "controlplane", "node01", "node02", "node03")


def need_fleet() -> None:
    need_root("network namespaces, veth pairs and mounts need root")
    for program in ("ip", "openssl", "etcd", "etcdctl", "kubectl", "ssh"):
        need_program(program)
    from kpki_openssl.prove.fleet import needs

    missing = needs()
    if missing:
        if IN_CI:
            pytest.fail(f"CI must install: {', '.join(missing)}")
        pytest.skip(f"no fleet here: it needs {', '.join(missing)}")


def traces(scratch: Path) -> dict[str, list[str]]:
    """What a fleet could leave behind: the network namespaces, the mounts at /run/netns or
    under `scratch` (other tests mount only under their own folders), and the processes in a
    network namespace that is not this one's or that name `scratch`."""
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    mounts = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4]
            if point.startswith("/run/netns") or point.startswith(str(scratch)):
                mounts.append(point)
    ours = os.stat("/proc/self/ns/net").st_ino
    processes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            elsewhere = os.stat(entry / "ns" / "net").st_ino != ours
        except OSError:
            continue  # gone, or a zombie
        if elsewhere or str(scratch) in cmdline:
            processes.append(f"{entry.name} {cmdline}")
    return {
        "ip netns list": sorted(namespaces.stdout.split("\n")),
        "mounts": sorted(mounts),
        "processes": sorted(processes),
    }


@contextlib.contextmanager
def scratch_in(folder: Path) -> Iterator[None]:
    before, tempfile.tempdir = tempfile.tempdir, str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = before


@pytest.fixture(scope="module")
def fleet_pki(tmp_path_factory) -> Path:
    need_fleet()
    out = tmp_path_factory.mktemp("fleet") / "pki"
    assert cli_main(["run", "all", "--quiet", "--out", str(out), *SETS]) == 0
    return out


@pytest.fixture(scope="module")
def good(fleet_pki: Path, tmp_path_factory) -> dict:
    """`prove --fleet --json` on the bundled PKI, in-process; the traces before and after."""
    scratch = tmp_path_factory.mktemp("fleet-scratch")
    before = traces(scratch)
    buffer = io.StringIO()
    started = time.monotonic()
    with scratch_in(scratch), contextlib.redirect_stdout(buffer):
        code = cli_main(["prove", "--fleet", "--json", "--out", str(fleet_pki), *SETS])
    seconds = time.monotonic() - started
    return {
        "code": code,
        "doc": json.loads(buffer.getvalue()),
        "seconds": seconds,
        "before": before,
        "after": traces(scratch),
        "left": list(scratch.iterdir()),
    }


def checks(doc: dict, group: str, host: str | None = None) -> list[dict]:
    return [c for c in doc["checks"] if c["group"] == group and host in (None, c["host"])]


def test_the_bundled_pki_passes_on_a_fleet_of_seven_hosts(good) -> None:
    doc = good["doc"]
    failed = [f"[{c['host']}] {c['what']}: {c['said']}" for c in doc["checks"]
              if c["status"] not in ("pass", "note")]  # fmt: skip
    assert good["code"] == 0 and not failed, failed
    assert doc["hosts"] == {
        "etcd1": ["10.0.0.21"], "etcd2": ["10.0.0.22"], "etcd3": ["10.0.0.23"],
        "controlplane": ["172.17.0.87"],
        "node01": ["10.0.0.31"], "node02": ["10.0.0.32"], "node03": ["10.0.0.33"],
    }  # fmt: skip
    assert doc["service_ip"] == "10.96.0.1"
    groups = {c["group"] for c in doc["checks"]}
    assert groups == {"install", "files", "etcd", "apiserver", "kubelet", "least privilege"}
    print(f"\nprove --fleet took {good['seconds']:.1f} s ({doc['seconds']} s by its own count)")


def test_ansible_check_changes_nothing_install_fills_each_host_a_second_run_changes_nothing(
    good,
) -> None:
    install = checks(good["doc"], "install")
    assert len(install) == 3 * len(HOSTS)
    check, real, again = install[:7], install[7:14], install[14:]
    assert all("--check" in c["argv"] and c["status"] == "pass" for c in check)
    assert all(re.fullmatch(r"would change (\d+) of its \1 files", c["said"]) for c in check)
    assert all("--check" not in c["argv"] and c["status"] == "pass" for c in real + again)
    assert all(re.fullmatch(r"changed (\d+) of its \1 files", c["said"]) for c in real)
    assert all(c["said"] == "changed 0 files" for c in again)
    # what it installed is the map of `hosts --json`, on each host, and nothing else
    files = {c["host"]: c for c in checks(good["doc"], "files")}
    assert sorted(files) == sorted(HOSTS) and all(c["status"] == "pass" for c in files.values())


def test_each_check_runs_on_the_host_whose_files_it_uses(good) -> None:
    doc = good["doc"]
    members = [c for c in checks(doc, "etcd") if c["what"].startswith("etcd member")]
    assert sorted(c["host"] for c in members) == ["etcd1", "etcd2", "etcd3"]
    assert all(f"at https://{ip}:2380" in c["what"] for c, ip in
               zip(sorted(members, key=lambda c: c["host"]), ("10.0.0.21", "10.0.0.22", "10.0.0.23")))  # fmt: skip
    client = [c for c in checks(doc, "etcd") if "apiserver-etcd-client" in c["what"]]
    assert len(client) == 4 and {c["host"] for c in client} == {"controlplane"}
    kubectl = checks(doc, "apiserver")[1:]
    by_host: dict[str, list[str]] = {}
    for c in kubectl:
        by_host.setdefault(c["host"], []).append(c["what"])
    assert sorted(by_host) == ["controlplane", "node01", "node02", "node03"]
    assert all(len(whats) == 4 for whats in by_host.values())  # 2 kubeconfigs, 2 addresses each
    assert all(any("10.96.0.1" in w for w in whats) for whats in by_host.values())
    stand_in = checks(doc, "apiserver")[0]
    assert "stands in for kube-apiserver" in stand_in["what"] and stand_in["program"] == "openssl"
    dials = [c for c in checks(doc, "kubelet") if c["program"] == "kubectl"]
    assert [c["host"] for c in dials] == ["controlplane"] * 3
    assert [re.search(r"https://([\d.]+):10250", c["what"]).group(1) for c in dials] == [
        "10.0.0.31", "10.0.0.32", "10.0.0.33",
    ]  # fmt: skip
    refused = [c for c in checks(doc, "least privilege") if c["program"] == "etcdctl"]
    assert [c["host"] for c in refused] == ["node01", "node02", "node03"]
    assert all(c["expect"] == "refuse" and "etcd on etcd1 logged" in c["said"] for c in refused)
    keys = [c for c in checks(doc, "least privilege") if c["program"] == "prove"]
    assert sorted(c["host"] for c in keys) == [
        "etcd1",
        "etcd2",
        "etcd3",
        "node01",
        "node02",
        "node03",
    ]


def test_the_fleet_leaves_nothing_behind(good) -> None:
    assert good["after"] == good["before"]
    assert good["left"] == []  # its scratch folder is gone


def test_a_broken_fleet_names_the_host_the_file_and_the_program(
    fleet_pki: Path, tmp_path: Path
) -> None:
    """etcd2's peer certificate re-signed without 10.0.0.22; after the install, node02 loses
    its kubelet serving certificate and node03 gets a copy of ca.key."""
    import shutil

    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.prove.fleet import prove_fleet
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    out = tmp_path / "pki"
    shutil.copytree(fleet_pki, out)
    (tmp_path / "ext.cnf").write_text(
        "subjectAltName = DNS:etcd2, DNS:localhost, IP:10.0.0.21, IP:10.0.0.23\n"
        "extendedKeyUsage = serverAuth, clientAuth\n"
    )
    done = subprocess.run(
        ["openssl", "x509", "-req", "-in", "etcd2.csr", "-CA", "etcd-ca.crt", "-CAkey",
         "etcd-ca.key", "-out", "etcd2.crt", "-days", "30", "-extfile", str(tmp_path / "ext.cnf")],
        cwd=out, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    def tamper(roots) -> None:
        (roots["node02"] / "var/lib/kubelet/kubelet-node02.crt").unlink()
        shutil.copy(out / "ca.key", roots["node03"] / "var/lib/kubernetes/ca.key")

    recipe = load_recipe("kubernetes")
    plan = build_plan(recipe, resolve_variables(recipe, SETS[1::2]))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = traces(scratch)
    with scratch_in(scratch):
        result = prove_fleet(plan, out, passes=("install",), after_install=tamper)
    assert traces(scratch) == before and list(scratch.iterdir()) == []
    assert result.exit_code == 1
    failed = {(c.group, c.host, c.program): c for c in result.checks if c.status == "fail"}
    # the member, by etcd's own log (the x509 words name the address its certificate lacks)
    member = failed[("etcd", "etcd2", "etcdctl")]
    assert "etcd2" in member.what and "10.0.0.22" in member.said and "etcd on " in member.said
    # the host and the file it lacks; the program that needed it
    assert (
        "/var/lib/kubelet/kubelet-node02.crt is missing"
        in failed[("files", "node02", "prove")].said
    )
    assert failed[("kubelet", "node02", "openssl")].said
    # the host and the file it must not have
    assert "/var/lib/kubernetes/ca.key is there" in failed[("files", "node03", "prove")].said
    held = failed[("least privilege", "node03", "prove")]
    assert "/var/lib/kubernetes/ca.key" in held.said and "ca.key" in held.said
    # nothing else: the other members, hosts and files are as good as before
    others = {key for key in failed if key[1] not in ("etcd2", "node02", "node03")}
    assert others == {("etcd", "controlplane", "etcdctl")}  # reading back from etcd2
    assert "https://10.0.0.22:2379" in failed[("etcd", "controlplane", "etcdctl")].what


def test_ctrl_c_in_the_middle_leaves_nothing_behind(fleet_pki: Path, tmp_path: Path) -> None:
    """SIGINT while ansible-playbook is installing (sshd, ssh, the holders all running)."""
    before = traces(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kpki_openssl", "prove", "--fleet", "--out", str(fleet_pki), *SETS],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the install has put a file on some host
            if any(tmp_path.glob("kpki-fleet-*/roots/*/var/lib/*/*")):
                break
            if proc.poll() is not None:
                raise AssertionError(f"prove --fleet ended first: {proc.communicate()}")
            time.sleep(0.05)
        else:
            raise AssertionError("the install never started")
        assert traces(tmp_path) != before  # namespaces and processes are there now
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, err
    assert traces(tmp_path) == before
    assert not list(tmp_path.glob("kpki-fleet-*"))


# ----- a CA rotation's stage playbooks on a fleet
#
# `export --rotate-ca ca --stage ... --format ansible` for real: the fleet of
# test_fleet_real.py (each host a network namespace with its own sshd and root folder; the
# deployer runs ansible-playbook over ssh), one fleet for ca's whole rotation:
#
# - trust: --check (nothing written), for real (each host's root then holds exactly the stage's
#   files, with their modes and the folder's bytes), again (changed=0);
# - switch: for real;
# - remove: its playbook refuses to start while the folder has not run remove; then for real
#   (the bundle, the signer's copy and the new key deleted: each host holds exactly its map of
#   `hosts`, byte for byte), and again (changed=0).
#
# The restarts are skipped (-e kpki_restart=false) as in `prove --fleet`: no service manager
# runs in a namespace; the restart plays' order is tested in test_rotate_export.py.
# Needs what test_fleet_real.py needs (it skips on a user's machine without it, fails in CI).
# About 30 s on two shared cores: the PKI and its three stages ~4 s, the fleet ~2 s, seven
# ansible-playbook runs ~3-4 s each.


def cli(*argv: str) -> None:
    assert cli_main(list(argv)) == 0, argv


def stage_map(folder: Path) -> dict[str, dict[str, tuple[str, int]]]:
    """host -> path -> (file, mode), from an export's inventory."""
    inventory = yaml.safe_load((folder / "inventory.yml").read_text())
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for group, values in inventory["all"]["children"].items():
        if group.startswith("restart_"):
            continue
        for host, facts in values["hosts"].items():
            out[host] = {f["path"]: (f["file"], int(f["mode"], 8)) for f in facts["kpki_files"]}
    return out


def held(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under a host's root: its path there, bytes and mode."""
    return {
        "/" + p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o7777)
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def expected(out: Path, files: dict[str, tuple[str, int]]) -> dict[str, tuple[bytes, int]]:
    return {path: ((out / src).read_bytes(), mode) for path, (src, mode) in files.items()}


def left_behind(found: dict[str, list[str]], token: str, scratch: Path) -> dict[str, list[str]]:
    """What this fleet left: its namespaces (named by its token), their mounts, and the
    processes `traces` finds (in another network namespace, or naming the scratch folder)
    that name it. Other fleets (another test session's) may come and go meanwhile."""
    mine = {
        k: [x for x in v if f"kpki-{token}-" in x or str(scratch) in x] for k, v in found.items()
    }
    return {k: v for k, v in mine.items() if v}


def test_a_ca_rotation_exported_as_playbooks_runs_on_a_fleet(tmp_path: Path) -> None:
    need_fleet()
    from kpki_openssl.deploy.hosts import layout
    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.prove.fleet import Fleet
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    out = tmp_path / "pki"
    cli("run", "all", "--quiet", "--out", str(out), *SETS)
    cli("rotate-ca", "ca", "--stage", "trust", "--quiet", "--out", str(out), *SETS)
    export = ["--format", "ansible", "--out", str(out), *SETS]
    cli("export", "--rotate-ca", "ca", "--stage", "trust", "-o", str(tmp_path / "trust"), *export)
    trust = stage_map(tmp_path / "trust")
    recipe = load_recipe("kubernetes")
    plan = build_plan(recipe, resolve_variables(recipe, SETS[1::2]))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    started = time.monotonic()
    fleet = Fleet(plan, out)
    try:
        with scratch_in(scratch):
            fleet.build()
        seconds = {"fleet": time.monotonic() - started}

        def play(name: str, check: bool = False):
            began = time.monotonic()
            played = fleet.play(tmp_path / name, check=check)
            label = name + (" --check" if check else "")
            while label in seconds:
                label += "'"
            seconds[label] = time.monotonic() - began
            return played

        # trust: --check writes nothing and says what it would change
        checked = play("trust", check=True)
        assert {h: sorted(f) for h, f in checked.changed.items()} == {
            h: sorted(f) for h, f in trust.items()
        }, checked.text
        assert not any(held(fleet.root(h)) for h in HOSTS)
        # for real: each host then holds exactly the stage's files, modes, bytes
        real = play("trust")
        assert all(real.recap[h][2:] == (0, 0) for h in trust), real.text
        for host in HOSTS:
            assert held(fleet.root(host)) == expected(out, trust.get(host, {})), host
        assert set(trust) == {"controlplane", "node01", "node02", "node03"}
        assert not set(real.recap) - set(trust)  # the etcd members are not touched
        # again: nothing changes
        again = play("trust")
        assert all(again.recap[h][1] == 0 for h in trust) and not any(again.changed.values())

        # switch, then remove, whose playbook is written before remove runs
        cli("rotate-ca", "ca", "--stage", "switch", "--quiet", "--out", str(out), *SETS)
        cli("export", "--rotate-ca", "ca", "--stage", "switch", "-o", str(tmp_path / "switch"),
            *export)  # fmt: skip
        switched = play("switch")
        assert all(switched.recap[h][2:] == (0, 0) for h in switched.recap), switched.text
        cli("export", "--rotate-ca", "ca", "--stage", "remove", "-o", str(tmp_path / "remove"),
            *export)  # fmt: skip
        installed = {h: held(fleet.root(h)) for h in HOSTS}
        early = play("remove")  # the folder still holds the rotation: refused, nothing changed
        assert any(counts[3] for counts in early.recap.values()), early.text
        assert {h: held(fleet.root(h)) for h in HOSTS} == installed
        cli("rotate-ca", "ca", "--stage", "remove", "--quiet", "--out", str(out), *SETS)
        removed = play("remove")
        assert all(removed.recap[h][2:] == (0, 0) for h in removed.recap), removed.text
        # each host holds exactly its part of the map of `hosts` that the rotation touched,
        # byte for byte: the bundle, the signer's copy and the new key are gone
        mine = {h.name: {f.path: (f.source, f.mode) for f in h.files} for h in layout(plan).hosts}
        for host in HOSTS:
            found = held(fleet.root(host))
            assert found == {p: v for p, v in expected(out, mine[host]).items() if p in found}
        gone = [p for h in HOSTS for p in held(fleet.root(h)) if Path(p).name.startswith("ca-")]
        assert gone == []
        assert "/var/lib/kubernetes/ca.crt" in held(fleet.root("node01"))
        assert "/var/lib/kubernetes/ca.key" in held(fleet.root("controlplane"))
        again = play("remove")
        assert all(again.recap[h][1] == 0 for h in again.recap) and not any(again.changed.values())
    finally:
        problems = fleet.close()
    assert problems == []
    assert (
        left_behind(traces(scratch), fleet.token, scratch) == {} and list(scratch.iterdir()) == []
    )
    total = time.monotonic() - started
    print(f"\nstage playbooks on a fleet: {total:.1f} s; " + ", ".join(
        f"{k} {v:.1f} s" for k, v in seconds.items()))  # fmt: skip
    shutil.rmtree(out)
