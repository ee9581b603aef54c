"""`export --format ansible`: an inventory and a playbook that put each host's files in place.

The inventory holds the facts: every host of `hosts` in a group by its role (etcd,
control_plane, nodes), at the address the recipe gives it (deploy/addresses.py), with its files
(`kpki_files`: the `hosts --json` map, path and mode) and the services that read them. The
playbook is generic: one play puts every host's files in place as root with their modes, all
hosts at once (library/kpki_install.py, one module call a host, with the texts read on the
controller from the output folder, `kpki_pki`); then a play per group, in the order a cluster
is safely restarted in (etcd members one at a time, then the control plane one host at a time,
then the nodes), restarts a host's services only when one of its files changed. Nothing else is
copied, so a CA key or sa.key reaches exactly the hosts `hosts` sends it to. A second run
changes nothing. No I/O but reading the module's text from this package.
"""

from __future__ import annotations

from pathlib import Path

from kpki_openssl.base import yamltext
from kpki_openssl.deploy.addresses import host_addresses, role
from kpki_openssl.deploy.hosts import Layout, layout
from kpki_openssl.plan.steps import Plan

INVENTORY = "inventory.yml"
PLAYBOOK = "playbook.yml"
# Restart plays, in order: (group, play name, serial); serial 0: the group's hosts at once.
PLAYS = (
    ("etcd", "etcd members, one at a time", 1),
    ("control_plane", "control plane, one host at a time", 1),
    ("nodes", "nodes", 0),
    ("other", "other hosts", 0),
)
NOT_SERVICES = ("kubectl",)
MODULE = "library/kpki_install.py"  # the module the playbook installs files with
# Each file's text, read on the controller from the output folder (rstrip=False: byte for byte).
CONTENTS = (
    "{{ query('ansible.builtin.file', *(kpki_files | map(attribute='file') "
    "| map('regex_replace', '^', kpki_pki ~ '/')), rstrip=False) }}"
)  # programs a host runs by hand, not as a service to restart


def _host_vars(found: Layout, host_name: str, address: str) -> dict:
    host = found.host(host_name)
    out: dict = {}
    if address:
        out["ansible_host"] = address
    out["kpki_services"] = [p for p in host.programs if p not in NOT_SERVICES]
    out["kpki_files"] = [
        {"file": f.source, "path": f.path, "mode": f"{f.mode:04o}"} for f in host.files
    ]
    return out


def inventory(plan: Plan, pki: str) -> str:
    """The inventory: each host in its role's group, its address, files and services;
    `pki` (the output folder, absolute) is where the files are copied from."""
    found = layout(plan)
    addresses = host_addresses(plan, found)
    groups: dict[str, dict] = {}
    for host in found.hosts:
        hosts = groups.setdefault(role(host.programs), {})
        hosts[host.name] = _host_vars(found, host.name, addresses.address(host.name))
    children = {
        group: {"hosts": groups[group]} for group, _name, _serial in PLAYS if group in groups
    }
    data = {
        "all": {
            "vars": {"kpki_pki": pki, "kpki_root": "", "kpki_restart": True},
            "children": children,
        }
    }
    lines = [
        f"# kpki_openssl inventory: recipe {plan.recipe}. Each host of `kpki-openssl hosts`, by",
        "# role, at the address the recipe gives it (ansible_host; a host without one is dialled",
        "# by its name); kpki_files is its map from `hosts --json`.",
        "# kpki_pki: the output folder the files are copied from. kpki_root: prefixed to every",
        "# path (try it in a scratch folder first). kpki_restart: false installs without",
        "# restarting services.",
    ]
    for host, why in addresses.missing.items():
        lines.append(f"# {host}: no address in the recipe ({why}), dialled by its name")
    return "\n".join(lines) + "\n" + yamltext.dump(data)


INSTALL = {
    "name": "put every host's files in place (kpki_files), from the output folder",
    "hosts": "all",
    "become": True,
    "gather_facts": False,
    "tasks": [
        {
            "name": "the host's files",
            "kpki_install": {
                "files": "{{ kpki_files }}",
                "contents": CONTENTS,
                "root": "{{ kpki_root }}",
                "owner": "root",
                "group": "root",
            },
            "register": "kpki_installed",
        }
    ],
}


def _restarts(group: str, name: str, serial: int) -> dict:
    play: dict = {"name": f"restart: {name}", "hosts": group}
    if serial:
        play["serial"] = serial
    play.update(
        {
            "become": True,
            "gather_facts": False,
            "tasks": [
                {
                    "name": "restart the services that read a file that changed",
                    "ansible.builtin.service": {"name": "{{ item }}", "state": "restarted"},
                    "loop": "{{ kpki_services }}",
                    "when": "kpki_restart | bool and kpki_installed is changed",
                }
            ],
        }
    )
    return play


def playbook(plan: Plan) -> str:
    """The playbook: every host's files at once, then one restart play per role group
    present, in safe order."""
    groups = {role(h.programs) for h in layout(plan).hosts}
    plays = [INSTALL] + [_restarts(g, name, serial) for g, name, serial in PLAYS if g in groups]
    header = (
        f"# kpki_openssl playbook: recipe {plan.recipe}. Puts each host's files in place (the\n"
        "# map of `kpki-openssl hosts --json`, held by the inventory), all hosts at once, then\n"
        "# restarts the services that read a file that changed: etcd members one at a time,\n"
        "# then the control plane one host at a time, then the nodes. Running it again changes\n"
        "# nothing and restarts nothing.\n"
        f"#   ansible-playbook -i {INVENTORY} {PLAYBOOK} --check   # what would change\n"
        f"#   ansible-playbook -i {INVENTORY} {PLAYBOOK}\n"
    )
    import yaml

    return header + yaml.safe_dump(plays, sort_keys=False, default_flow_style=False, width=4096)


def files(plan: Plan, pki: str) -> dict[str, str]:
    """The files of the export, by name: the inventory, the playbook and its module."""
    module = (Path(__file__).parent / MODULE).read_text()
    return {INVENTORY: inventory(plan, pki), PLAYBOOK: playbook(plan), MODULE: module}
