"""`prove --fleet`: the output folder installed on a fleet by Ansible, and proven from each host.

Each host of `hosts` (control plane, etcd members, nodes) gets a network namespace with the
addresses the recipe gives it (deploy/addresses.py; the Service IP too, on the first control
plane host, standing in for kube-proxy's rule) on a private bridge, a mount namespace whose
install folders are its own root in the scratch folder (netns.py), and an sshd (sshd.py). A
deployer namespace on the same bridge runs `ansible-playbook` with the inventory and playbook
of `export --format ansible`, logging in as root with a key made for this run: first with
--check (nothing may change on a host), then for real, then again (nothing may change). Each
host's root is filled only by that install.

Then each check runs on one host (nsenter into its namespaces) with that host's files only, as
fleet_checks.py says. Nothing is sent to an address outside the namespaces this run made, or
127.0.0.0/8 inside them; everything (processes, namespaces, veths, bridge, mounts, scratch) is
gone when `prove_fleet` returns or raises, Ctrl-C included.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kpki_openssl.base import processes
from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.deploy import ansible
from kpki_openssl.deploy.addresses import host_addresses, role
from kpki_openssl.deploy.hosts import HostFile, layout
from kpki_openssl.plan.steps import Plan
from kpki_openssl.prove import netns, sshd
from kpki_openssl.prove.fleet_report import Check, FleetResult

DEPLOYER = "deployer"
# Benchmarking ranges (RFC 2544, RFC 5180): the deployer's addresses, only inside the fleet.
DEPLOYER_ADDRESSES = {4: "198.18.0.1", 6: "2001:2::1"}
PROGRAMS = (  # besides netns.NEEDS, sshd and ansible-playbook; program, where it comes from
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("etcd", "etcd-server"),
    ("etcdctl", "etcd-client"),
    ("kubectl", "kubernetes-client"),
    ("openssl", "openssl"),
    ("ss", "iproute2"),
)
PASSES = ("check", "install", "again")  # the ansible-playbook runs, in order
_RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
)
_RESULT = re.compile(r"^(?:ok|changed): \[([^\]]+)\] => (\{.*\})$")
_FAILED = re.compile(r"^(?:fatal|failed): \[([^\]]+)\](?: \(item=(.*?)\))?(?:: [A-Z!]+)? => (.*)$")


def needs() -> list[str]:
    """What this machine lacks for a fleet, one item each."""
    missing = netns.missing_privileges((*netns.NEEDS, *PROGRAMS))
    if sshd.sshd_path() is None:
        missing.append("sshd (install openssh-server)")
    if not os.access(ansible_playbook(), os.X_OK):
        missing.append("ansible-playbook (pip install ansible-core)")
    return missing


def ansible_playbook() -> str:
    """ansible-playbook beside this python (its virtual environment's), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ansible-playbook") or "ansible-playbook"


class Fleet:
    """The fleet of one plan's hosts: made by `build`, filled by `install`, undone by `close`."""

    def __init__(self, plan: Plan, out: Path) -> None:
        self.plan = plan
        self.out = out.resolve()
        self.layout = layout(plan)
        if not self.layout.hosts:
            raise InputError(
                f"prove --fleet: recipe {plan.recipe} places no file on any host (no hosts: in "
                "its components), so there is no fleet to make"
            )
        self.addresses = host_addresses(plan, self.layout)
        if self.addresses.missing:
            by_why: dict[str, list[str]] = {}
            for host, why in self.addresses.missing.items():
                by_why.setdefault(why, []).append(host)
            raise InputError(
                "prove --fleet: no address in the recipe for "
                + "; ".join(f"{', '.join(hs)} ({why})" for why, hs in by_why.items())
            )
        self._check_addresses()
        missing = needs()
        if missing:
            raise netns.FleetUnavailable(
                "prove --fleet cannot make a fleet here; it needs " + ", ".join(missing)
            )
        self.result = FleetResult(
            plan.recipe,
            str(out),
            hosts={h: list(a) for h, a in self.addresses.hosts.items()},
            service_ip=self.addresses.service_ip,
            installer="ansible-playbook over ssh, as root; the playbook's restarts skipped "
            "(-e kpki_restart=false): the stand-ins start after the install",
        )
        self.scratch = Path()
        self.network: netns.Network | None = None
        self.hosts: dict[str, netns.Host] = {}
        self.deployer: netns.Host | None = None
        self.token = ""

    def _check_addresses(self) -> None:
        seen: dict[str, str] = {}
        for host, addresses in self.addresses.hosts.items():
            for address in addresses:
                if address in seen:
                    raise InputError(
                        f"prove --fleet: {host} and {seen[address]} both have address {address}"
                    )
                seen[address] = host
        service = self.addresses.service_ip
        if service in seen:
            raise InputError(
                f"prove --fleet: the Service IP {service} is also {seen[service]}'s address"
            )

    # -- what the checks use

    @property
    def control_planes(self) -> list[str]:
        return [h.name for h in self.layout.hosts if role(h.programs) == "control_plane"]

    @property
    def members(self) -> list[str]:
        return [h.name for h in self.layout.hosts if role(h.programs) == "etcd"]

    @property
    def nodes(self) -> list[str]:
        return [h.name for h in self.layout.hosts if role(h.programs) == "nodes"]

    def files(self, host: str) -> tuple[HostFile, ...]:
        return self.layout.host(host).files

    def root(self, host: str) -> Path:
        """The host's root folder: what its install put in place, seen from outside."""
        return self.scratch / "roots" / host

    def state(self, host: str) -> Path:
        """The host's own working folder (sshd's config, etcd's data, logs)."""
        return self.scratch / "hosts" / host

    def on_host(self, host: str, path: str) -> Path:
        """A file of the host's, by its path there, read from outside."""
        return self.root(host) / path.lstrip("/")

    def address(self, host: str) -> str:
        return self.addresses.address(host)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a program on a host: PATH, a HOME and TMPDIR on its tmpfs."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": "/run/kpki/home",
            "TMPDIR": "/run/kpki/tmp",
            **extra,
        }

    def run(
        self, host: str, argv: Sequence[str], timeout: float = processes.CLIENT, **env: str
    ) -> processes.Finished:
        assert self.network is not None
        return self.network.run(self.hosts[host], argv, self.env(**env), timeout=timeout)

    def start(
        self, host: str, argv: Sequence[str], name: str, wd: str = "/"
    ) -> tuple[subprocess.Popen, Path]:
        """A server on the host, its output in the host's state folder (name.log)."""
        assert self.network is not None
        log = self.state(host) / f"{name}.log"
        return self.network.start(self.hosts[host], argv, log, self.env(), wd=wd), log

    # -- making it

    def build(self) -> None:
        """Namespaces, bridge, mounts and sshd for every host; the deployer and its files."""
        self.scratch = Path(tempfile.mkdtemp(prefix="kpki-fleet-"))
        for folder in ("roots", "hosts", "deployer"):
            (self.scratch / folder).mkdir()
        self.network = network = netns.Network()
        self.token = network.token
        network.open()
        deployer_dir = self.scratch / "deployer"
        families = {
            ipaddress.ip_address(a).version
            for addresses in self.addresses.hosts.values()
            for a in addresses
        }
        self.deployer = network.add_host(
            DEPLOYER,
            [DEPLOYER_ADDRESSES[f] for f in sorted(families)],
            deployer_dir / "holder.log",
        )
        network.isolate(self.deployer, deployer_dir / "root", (), (), (), {}, deployer_dir)
        self.deployer.inside(sshd.CONTROL_DIR).mkdir(parents=True, exist_ok=True)
        key = deployer_dir / "id_ed25519"
        client_pub = sshd.keygen(key, "kpki-fleet deployer")
        keep = self._keep()
        hide = [self.scratch / "roots", deployer_dir, self.out]
        hide = [p for p in hide if not netns.under(self.scratch, str(p))]
        known = []
        first_plane = (self.control_planes or [""])[0]
        for host in self.layout.hosts:
            addresses = list(self.addresses.hosts[host.name])
            if host.name == first_plane and self.addresses.service_ip:
                addresses.append(self.addresses.service_ip)
            state = self.state(host.name)
            state.mkdir()
            made = network.add_host(host.name, addresses, state / "holder.log")
            self.hosts[host.name] = made
            folders = sorted({os.path.dirname(f.path) for f in host.files})
            etc = {"hosts": self._etc_hosts(host.name), "resolv.conf": "nameserver 127.0.0.1\n"}
            network.isolate(made, self.root(host.name), folders, keep, hide, etc, state)
            host_pub = sshd.start_sshd(network, made, state / "ssh", client_pub)
            known.append(f"{self.address(host.name)} {host_pub}")
        (deployer_dir / "known_hosts").write_text("\n".join(known) + "\n")
        for name, text in ansible.files(self.plan, str(self.out)).items():
            (deployer_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (deployer_dir / name).write_text(text)
        sshd.ansible_cfg(deployer_dir, key, deployer_dir / "known_hosts")

    def _keep(self) -> list[Path]:
        """What a host's mounts must not hide: the scratch folder and the programs run there."""
        keep = [self.scratch, Path(sys.prefix)]
        for program in ("etcd", "etcdctl", "kubectl", "openssl", "ss", "mount", "sleep"):
            found = shutil.which(program)
            if found:
                keep.append(Path(os.path.realpath(found)))
        found = sshd.sshd_path()
        if found:
            keep.append(Path(os.path.realpath(found)))
        return keep

    def _etc_hosts(self, host: str) -> str:
        """The host's /etc/hosts: localhost, itself, and each name the kubeconfigs dial the
        API server by at the control plane's (first) advertise address."""
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        lines.append(f"{self.address(host)} {host}")
        names = []
        for config in self.plan.kubeconfigs:
            name = urlsplit(config.server).hostname or ""
            if name and not _is_ip(name) and name not in names:
                names.append(name)
        if names and self.control_planes:
            lines.append(f"{self.address(self.control_planes[0])} {' '.join(names)}")
        return "\n".join(lines) + "\n"

    # -- filling it

    def install(self, passes: Sequence[str] = PASSES) -> None:
        """ansible-playbook from the deployer: --check, then for real, then again."""
        for step in passes:
            self._ansible(step)

    def play(self, folder: Path, check: bool = False, log: str = "") -> Played:
        """ansible-playbook from the deployer with the inventory and playbook in `folder`
        (the deployer's own: the full install; or an export such as a rotation stage's), the
        services' restarts skipped (no service manager runs in a host); its output in `log`
        under the deployer's folder when named."""
        assert self.network is not None and self.deployer is not None
        deployer = self.scratch / "deployer"
        argv = [
            ansible_playbook(),
            "-i", str(folder / ansible.INVENTORY), str(folder / ansible.PLAYBOOK),
            "-e", "kpki_restart=false",  # the stand-ins are started after the install
            "-v",  # each host's result: the files kpki_install changed
            *(("--check",) if check else ()),
        ]  # fmt: skip
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(deployer / "home"),
            "ANSIBLE_CONFIG": str(deployer / "ansible.cfg"),
            "ANSIBLE_HOME": str(deployer / "ansible-home"),
            "LC_ALL": "C.UTF-8",
        }
        done = self.network.run(self.deployer, argv, env, timeout=processes.MAKE, wd=str(folder))
        text = done.stdout + done.stderr
        if log:
            (deployer / log).write_text(text)
        return Played(
            tuple(argv),
            text,
            {m[0]: tuple(int(n) for n in m[1:]) for m in _RECAP.findall(done.stdout)},
            _changed(done.stdout),
            _failures(done.stdout),
        )

    def _ansible(self, step: str) -> None:
        played = self.play(self.scratch / "deployer", step == "check", f"ansible-{step}.log")
        argv, text, recap = played.argv, played.text, played.recap
        failures, changed = played.failures, played.changed
        what = {
            "check": "ansible-playbook --check: says what it would change, and changes nothing",
            "install": "ansible-playbook installs the host's files over ssh",
            "again": "ansible-playbook run again changes nothing",
        }[step]
        for host in self.layout.hosts:
            check = self.result.add(
                Check(
                    "install",
                    host.name,
                    f"{what} ({self.address(host.name)})",
                    "ansible-playbook",
                    argv=tuple(argv),
                )
            )
            counts = recap.get(host.name)
            if counts is None or counts[2] or counts[3]:  # not run, unreachable or failed
                check.judge(False, "; ".join(failures.get(host.name, ())) or _last(text))
                continue
            files = changed.get(host.name)
            total = len(self.files(host.name))
            if files is None:
                check.judge(False, f"no result of kpki_install for it (changed={counts[1]})")
            elif step == "check":
                written = [p for p in self.root(host.name).rglob("*") if p.is_file()]
                said = f"would change {len(files)} of its {total} files"
                check.judge(not written, said + (f"; but wrote {written[0]}" if written else ""))
            elif step == "again":
                check.judge(not files and counts[1] == 0, f"changed {len(files)} files")
            else:
                check.judge(True, f"changed {len(files)} of its {total} files")

    # -- undoing it

    def close(self) -> list[str]:
        """Every process stopped, namespace deleted, mount gone, scratch removed; Ctrl-C is
        ignored meanwhile so it cannot leave half of it behind. What could not be undone."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            problems = self.network.close() if self.network is not None else []
            if self.scratch != Path():
                shutil.rmtree(self.scratch, ignore_errors=True)
            return problems
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class Played:
    """One ansible-playbook run: its argv and output, and per host its recap (ok, changed,
    unreachable, failed), the files kpki_install changed (or would) and its failures."""

    argv: tuple[str, ...]
    text: str
    recap: dict[str, tuple[int, ...]]
    changed: dict[str, list[str]]
    failures: dict[str, list[str]]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _failures(stdout: str) -> dict[str, list[str]]:
    """Each host's failures in ansible-playbook's output: the item (a path) and its message."""
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        found = _FAILED.match(line.strip())
        if not found:
            continue
        host, item, rest = found.groups()
        try:
            data = json.loads(rest)
            message = str(data.get("msg", rest)) if isinstance(data, dict) else rest
        except ValueError:
            message = rest
        out.setdefault(host, []).append(f"{item}: {message}" if item else message)
    return out


def _changed(stdout: str) -> dict[str, list[str]]:
    """Each host's files kpki_install changed (or would change), from ansible-playbook -v."""
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        found = _RESULT.match(line.strip())
        if not found:
            continue
        try:
            data = json.loads(found.group(2))
        except ValueError:
            continue
        if isinstance(data, dict) and "changed_files" in data:  # each kpki_install call's
            out.setdefault(found.group(1), []).extend(str(f) for f in data["changed_files"])
    return out


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " / ".join(lines[-2:]) or "no output"


def prove_fleet(
    plan: Plan,
    out: Path,
    passes: Sequence[str] = PASSES,
    after_install: Callable[[Mapping[str, Path]], None] | None = None,
) -> FleetResult:
    """Make the fleet, install it with Ansible, run every check, undo it all.

    `after_install` (for tests) gets each host's root folder once the install is done."""
    from kpki_openssl.prove import fleet_checks

    started = time.monotonic()
    fleet = Fleet(plan, out)
    try:
        fleet.build()
        fleet.install(passes)
        if after_install is not None:
            after_install({h: fleet.root(h) for h in fleet.hosts})
        fleet_checks.run_all(fleet)
    except BaseException:
        for problem in fleet.close():
            sys.stderr.write(f"kpki-openssl: prove --fleet: could not undo: {problem}\n")
        raise
    problems = fleet.close()
    if problems:
        raise KpkiError("prove --fleet: could not undo: " + "; ".join(problems))
    fleet.result.seconds = time.monotonic() - started
    return fleet.result
