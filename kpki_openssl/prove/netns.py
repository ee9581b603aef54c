"""Network namespaces for `prove --fleet`: one per host on a private bridge, and nothing else.

Every namespace this run makes is named kpki-TOKEN-...; the bridge lives in one of them (the
switch) and each host's veth pair runs from the switch into the host. The machine's own network
(the root namespace) gets no link, address or route, so the fleet's addresses, whatever the
recipe says, are reachable only from inside the fleet.

Each host also has a mount namespace of its own (`ip netns exec` makes one, a slave of the
machine's, so nothing mounted in it shows outside), held open by a `sleep` process: its root
folder in the scratch folder is bound over the folders it installs into, /run and /var/log are
fresh tmpfs (sshd writes its login records there), /etc/hosts is its own, and the output folder
and every host's root are hidden. Programs started in it with nsenter see the host's files and
nothing else of the fleet's. `close()` kills every process in the namespaces, deletes them
(veths and bridge go with them; the mounts die with their mount namespaces) and unmounts
/run/netns when this run was the one that mounted it.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from kpki_openssl.base import processes
from kpki_openssl.base.errors import KpkiError

NETNS_DIR = "/run/netns"
NEEDS = (  # program, the Debian package that has it
    ("ip", "iproute2"),
    ("nsenter", "util-linux"),
    ("mount", "mount"),
    ("sleep", "coreutils"),
)


class FleetUnavailable(KpkiError):
    """This machine cannot make the fleet: not root, or a program is missing."""


def missing_privileges(programs: Sequence[tuple[str, str]] = NEEDS) -> list[str]:
    """What stops this process making namespaces: not root, and each program not on PATH
    (with where to get it)."""
    out = []
    if os.geteuid() != 0:
        out.append("root (network namespaces, veth pairs and mounts need it: run it as root)")
    for program, package in programs:
        if shutil.which(program) is None:
            out.append(f"{program} (install {package})")
    return out


def mount_points() -> set[str]:
    """The mount points of this process's mount namespace."""
    points = set()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as info:
        for line in info:
            fields = line.split()
            if len(fields) > 4:
                points.add(fields[4].replace("\\040", " "))
    return points


def _ip(*argv: str) -> None:
    done = processes.run(("ip", *argv), timeout=processes.READ)
    if not done.ok:
        raise KpkiError(f"ip {' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")


_SYSTEM = (Path("/etc"), Path("/usr"), Path("/proc"), Path("/sys"), Path("/dev"), Path("/run"))


def _tops(folders: Sequence[str]) -> dict[str, str]:
    """The nearest folder that exists here of each folder (itself when it exists), outermost
    only, each with the first folder that needs it."""
    tops: dict[str, str] = {}
    for folder in folders:
        path = Path(folder)
        while not path.exists() and path != path.parent:
            path = path.parent
        tops.setdefault(str(path), folder)
    return {
        top: folder
        for top, folder in sorted(tops.items())
        if not any(o != top and under(Path(top), o) for o in tops)
    }


def under(path: Path, top: str) -> bool:
    """Whether `path` is `top` or inside it."""
    return path == Path(top) or Path(top) in path.parents


def _prefix(address: str) -> str:
    return f"{address}/{ipaddress.ip_address(address).max_prefixlen}"


class Host:
    """One host's namespaces: its name, netns, addresses and the process that holds them."""

    def __init__(self, name: str, netns: str, addresses: tuple[str, ...]) -> None:
        self.name = name
        self.netns = netns
        self.addresses = addresses
        self.holder: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.holder is not None, f"{self.name}: not started"
        return self.holder.pid

    def inside(self, path: str) -> Path:
        """A path as this host sees it, reached from outside (its mount namespace's root)."""
        return Path(f"/proc/{self.pid}/root") / path.lstrip("/")


class Network:
    """The switch (a bridge in a namespace of its own) and the hosts plugged into it, each
    held by a process of its own (the deployer, which runs ansible-playbook, is one too)."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self.switch = f"kpki-{self.token}-switch"
        self.hosts: dict[str, Host] = {}
        self.made: list[str] = []  # namespaces, in the order they were made
        self.started: list[subprocess.Popen] = []
        self.ports = 0
        self.run_netns_was_mounted = NETNS_DIR in mount_points()

    def _add_netns(self, name: str) -> None:
        self.made.append(name)  # first: an interrupt after `ip netns add` still undoes it
        _ip("netns", "add", name)

    def open(self) -> None:
        """The switch: a namespace holding the bridge every host is plugged into."""
        self._add_netns(self.switch)
        _ip("-n", self.switch, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")

    def _plug(self, netns: str, addresses: Sequence[str]) -> None:
        """A veth pair from the bridge to eth0 in `netns`, with `addresses` and a default route
        out of eth0 (it reaches only the bridge)."""
        port = f"p{self.ports}"
        self.ports += 1
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", netns)  # fmt: skip
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        families = set()
        for address in addresses:
            version = ipaddress.ip_address(address).version
            families.add(version)
            extra = ("nodad",) if version == 6 else ()
            _ip("-n", netns, "addr", "add", _prefix(address), "dev", "eth0", *extra)
        _ip("-n", netns, "link", "set", "eth0", "up")
        for family in sorted(families):
            _ip("-n", netns, f"-{family}", "route", "add", "default", "dev", "eth0")

    def add_host(self, name: str, addresses: Sequence[str], log: Path) -> Host:
        """A namespace for `name` on the bridge with `addresses`, and its holder started."""
        host = Host(name, f"kpki-{self.token}-{name}", tuple(addresses))
        self._add_netns(host.netns)
        self._plug(host.netns, addresses)
        host.holder = self._start(("ip", "netns", "exec", host.netns, "sleep", "infinity"), log)
        self._wait_inside(host)
        self.hosts[name] = host
        return host

    def _start(
        self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen:
        proc = processes.start(argv, log, env=env)
        self.started.append(proc)
        return proc

    def _wait_inside(self, host: Host, seconds: float = 10.0) -> None:
        """Until the holder is `sleep` in the host's network namespace."""
        want = os.stat(f"{NETNS_DIR}/{host.netns}").st_ino
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with suppress(OSError):
                if os.stat(f"/proc/{host.pid}/ns/net").st_ino == want:
                    comm = Path(f"/proc/{host.pid}/comm").read_text().strip()
                    if comm == "sleep":
                        return
            if host.holder is not None and host.holder.poll() is not None:
                break
            time.sleep(0.02)
        raise KpkiError(f"{host.name}: the process holding its namespaces did not start")

    def isolate(
        self,
        host: Host,
        root: Path,
        folders: Sequence[str],
        keep: Sequence[Path],
        hide: Sequence[Path],
        etc: Mapping[str, str],
        own: Path,
    ) -> None:
        """The host's mount namespace: for each folder it installs into, the nearest folder of
        this machine's that exists is replaced by the same folder under `root` (so the host's
        files land in `root`, and it sees no file of this machine's there); /run and /var/log
        are tmpfs; each file of `etc` (hosts, resolv.conf) is its own (kept in `own`); `hide`
        is hidden.

        A folder whose replacement would hide something the fleet runs from (a path of `keep`,
        /etc, /usr, /proc, /sys, /dev, /run) is refused."""
        tops = _tops(folders)
        for top, folder in tops.items():
            blocked = [str(k) for k in (*keep, *_SYSTEM) if under(Path(k), top)]
            if blocked:
                raise FleetUnavailable(
                    f"{host.name}: its files go in {folder}; the nearest folder this machine "
                    f"has there is {top}, and putting the host's own in its place would hide "
                    f"{blocked[0]}"
                )
        for top in tops:
            (root / top.lstrip("/")).mkdir(parents=True, exist_ok=True)
            self.mount(host, "--bind", str(root / top.lstrip("/")), top)
        self.mount(host, "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
        for folder in ("run/sshd", "run/kpki/home", "run/kpki/tmp", "run/kpki/ansible"):
            host.inside(folder).mkdir(parents=True, mode=0o755, exist_ok=True)
        if os.path.isdir("/var/log"):
            self.mount(host, "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/var/log")
        for name, text in etc.items():
            where = os.path.realpath(f"/etc/{name}")
            if where.startswith("/run/"):  # a link into /run, now the host's own tmpfs
                target = host.inside(where)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
                continue
            mine = own / f"etc-{name}"
            mine.write_text(text)
            if os.path.isfile(where):
                self.mount(host, "--bind", str(mine), where)
        for path in hide:
            if path.is_dir():
                self.mount(host, "-t", "tmpfs", "-o", "mode=0700,size=1m", "tmpfs", str(path))

    # -- inside a host

    def _enter(self, host: Host, argv: Sequence[str], net: bool = True, wd: str = "/") -> list:
        return [
            "nsenter", f"--target={host.pid}", "--mount", *(("--net",) if net else ()),
            f"--wd={host.inside(wd)}", "--", *argv,  # opened before entering: from outside
        ]  # fmt: skip

    def mount(self, host: Host, *argv: str) -> None:
        """`mount -n ARGV` in the host's mount namespace (-n: no /run/mount/utab written)."""
        done = processes.run(
            self._enter(host, ("mount", "-n", *argv), net=False), timeout=processes.READ
        )
        if not done.ok:
            raise KpkiError(f"{host.name}: mount {' '.join(argv)}: {done.stderr.strip()}")

    def run(
        self,
        host: Host,
        argv: Sequence[str],
        env: Mapping[str, str],
        timeout: float = processes.CLIENT,
        wd: str = "/",
    ) -> processes.Finished:
        """Run `argv` on the host (its network and mount namespaces) to its end."""
        return processes.run(self._enter(host, argv, wd=wd), timeout=timeout, env=env)

    def start(
        self, host: Host, argv: Sequence[str], log: Path, env: Mapping[str, str], wd: str = "/"
    ) -> subprocess.Popen:
        """Start a server on the host; `close()` stops it."""
        return self._start(self._enter(host, argv, wd=wd), log, env=env)

    # -- the end

    def pids(self, netns: str) -> list[int]:
        """Every process in one of this run's network namespaces."""
        done = processes.run(("ip", "netns", "pids", netns), timeout=processes.READ)
        return [int(p) for p in done.stdout.split() if p.isdigit()]

    def close(self) -> list[str]:
        """Stop every process, delete every namespace; what could not be undone, one line each.

        Every process in the namespaces (what was started, and what they started: sshd's
        sessions, ssh's control masters) gets SIGTERM, then SIGKILL after a second."""
        problems: list[str] = []
        live = [n for n in self.made if Path(NETNS_DIR, n).exists()]
        for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 10.0)):
            left = {n: self.pids(n) for n in live}
            for pid in (p for pids in left.values() for p in pids):
                with suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while any(left.values()) and time.monotonic() < deadline:
                time.sleep(0.05)
                for proc in self.started:
                    proc.poll()  # reap this process's own children: a zombie is no process
                left = {n: self.pids(n) for n in live}
        problems += [f"{n}: processes {pids} would not end" for n, pids in left.items() if pids]
        for proc in self.started:  # reaped, so none is left as a zombie
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for netns in reversed(self.made):
            if not Path(NETNS_DIR, netns).exists():
                continue
            done = processes.run(("ip", "netns", "del", netns), timeout=processes.READ)
            if not done.ok and Path(NETNS_DIR, netns).exists():
                problems.append(f"ip netns del {netns}: {done.stderr.strip()}")
        self.made.clear()
        self.started.clear()
        if not self.run_netns_was_mounted and NETNS_DIR in mount_points():
            with suppress(OSError):
                if not os.listdir(NETNS_DIR):  # another run's namespaces keep it mounted
                    processes.run(("umount", NETNS_DIR), timeout=processes.READ)
        return problems
