"""sshd inside each host of the fleet, and the deployer's client side for Ansible.

Every key is made for this run in the scratch folder (ed25519, no passphrase): one client key
the deployer logs in with (as root) and one host key per host, which the deployer's
known_hosts lists, so ssh checks each host's key (StrictHostKeyChecking=yes) and never writes
to a known_hosts of the user's. Each sshd listens only on its host's address, takes only that
client key, and runs without PAM; its login records go to the host's own tmpfs (netns.py).
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from kpki_openssl.base import processes
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.prove.netns import Host, Network

REMOTE_TMP = "/run/kpki/ansible"  # on each host's tmpfs
CONTROL_DIR = "/run/kpki/cp"  # on the deployer's tmpfs: a short path for ssh's control sockets


def sshd_path() -> str | None:
    """sshd's absolute path (it re-executes itself by it), also where PATH lacks sbin."""
    found = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/sbin")
    return os.path.abspath(found) if found else None


def keygen(key: Path, comment: str) -> str:
    """A new ed25519 key pair at `key` (and key.pub); the public key's `TYPE BASE64` text."""
    done = processes.run(
        ("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key),
        timeout=processes.MAKE,
    )
    if not done.ok:
        raise KpkiError(f"ssh-keygen: {done.stderr.strip()}")
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def _listen(address: str) -> str:
    return f"[{address}]:22" if ipaddress.ip_address(address).version == 6 else f"{address}:22"


def start_sshd(network: Network, host: Host, folder: Path, client_pub: str) -> str:
    """sshd on `host`, from a config and host key in `folder`: the host key's public text,
    once it listens."""
    folder.mkdir(parents=True, exist_ok=True)
    host_pub = keygen(folder / "ssh_host_ed25519_key", f"kpki-fleet {host.name}")
    (folder / "authorized_keys").write_text(client_pub + "\n")
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                *(f"ListenAddress {_listen(a)}" for a in host.addresses[:1]),
                f"HostKey {folder / 'ssh_host_ed25519_key'}",
                f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",  # the scratch folder may sit in a sticky /tmp
                "PidFile none",
                "PrintMotd no",
                "PrintLastLog no",
                "Subsystem sftp internal-sftp",
                "SetEnv TMPDIR=/run/kpki/tmp",
            ]
        )
        + "\n"
    )
    sshd = sshd_path()
    assert sshd is not None
    log = folder / "sshd.log"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    proc = network.start(host, (sshd, "-D", "-e", "-f", config), log, env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        listening = network.run(host, ("ss", "-Hltn", "sport", "=", ":22"), env)
        if listening.ok and listening.stdout.strip():
            return host_pub
        time.sleep(0.05)
    said = log.read_text(errors="replace").strip().splitlines()
    raise KpkiError(f"{host.name}: sshd did not start: {said[-1] if said else 'no output'}")


def remote_python() -> str:
    """The python Ansible's modules run with on the hosts: the system's python3 when there
    is one (a version manager's shim may not work outside its user's shell), else this one."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return os.path.realpath(sys.executable)


def ansible_cfg(folder: Path, key: Path, known_hosts: Path) -> Path:
    """The deployer's ansible.cfg: log in as root with `key`, check host keys against
    `known_hosts`, pipelining, temporary files in the scratch folder and the hosts' tmpfs."""
    ssh_args = " ".join(
        shlex.quote(a)
        for a in (
            "-F", "/dev/null",  # no ssh_config of the user's
            "-o", "ControlMaster=auto", "-o", "ControlPersist=60s",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        )
    )  # fmt: skip
    text = (
        "[defaults]\n"
        "remote_user = root\n"
        f"private_key_file = {key}\n"
        "host_key_checking = True\n"
        f"interpreter_python = {remote_python()}\n"
        f"local_tmp = {folder / 'local-tmp'}\n"
        f"remote_tmp = {REMOTE_TMP}\n"
        "forks = 20\n"
        "retry_files_enabled = False\n"
        "nocolor = True\n"
        "deprecation_warnings = False\n"
        "[ssh_connection]\n"
        "pipelining = True\n"
        f"ssh_args = {ssh_args}\n"
        f"control_path_dir = {CONTROL_DIR}\n"
    )
    path = folder / "ansible.cfg"
    path.write_text(text)
    return path
