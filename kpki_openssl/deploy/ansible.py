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
changes nothing.

`export --rotate-ca CA --stage STAGE --format ansible` is built by the same functions from a
rotation stage (deploy/rotation.py): each host's `kpki_files` is exactly the stage's files for
it, the restarts go by program in the rotation's order (etcd members one at a time, the API
servers one at a time, the scheduler, the controller manager, the kubelets one at a time,
kube-proxy), each on the hosts where a file it reads changed; at remove, a last play deletes
what trust and switch put on a host and no file names any more (`kpki_absent`). No I/O but
reading the module's text from this package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kpki_openssl.base import yamltext
from kpki_openssl.deploy import rotation as deploy_rotation
from kpki_openssl.deploy.addresses import host_addresses, role
from kpki_openssl.deploy.hosts import Layout, layout
from kpki_openssl.plan import rotation
from kpki_openssl.plan.shell_text import comment
from kpki_openssl.plan.steps import Plan

INVENTORY = "inventory.yml"
PLAYBOOK = "playbook.yml"


@dataclass(frozen=True)
class Restart:
    """One restart play: the hosts of inventory group `group`, `serial` at a time (0: all at
    once), each restarting `services` (a list, or a Jinja expression naming one) when its
    install changed a file."""

    group: str
    name: str
    serial: int
    services: str | tuple[str, ...] = "{{ kpki_services }}"


# Restart plays of the full install, in order; each host restarts the services it runs.
PLAYS = (
    Restart("etcd", "etcd members, one at a time", 1),
    Restart("control_plane", "control plane, one host at a time", 1),
    Restart("nodes", "nodes", 0),
    Restart("other", "other hosts", 0),
)
ROLES = tuple(r.group for r in PLAYS)  # the inventory's groups by role, in this order
# A rotation stage restarts by program, in the rotation's order; these one host at a time.
ONE_AT_A_TIME = {"etcd": "etcd members", "kube-apiserver": "API servers", "kubelet": "kubelets"}
NOT_SERVICES = ("kubectl",)  # programs a host runs by hand, not as a service to restart
MODULE = "library/kpki_install.py"  # the module the playbook installs files with
# Each file's text, read on the controller from the output folder (rstrip=False: byte for byte).
CONTENTS = (
    "{{ query('ansible.builtin.file', *(kpki_files | map(attribute='file') "
    "| map('regex_replace', '^', kpki_pki ~ '/')), rstrip=False) }}"
)


def _file_rows(files: Sequence[tuple[str, str, int]]) -> list[dict]:
    return [{"file": source, "path": path, "mode": f"{mode:04o}"} for source, path, mode in files]


def _host_vars(found: Layout, host_name: str) -> dict:
    host = found.host(host_name)
    return {
        "kpki_services": [p for p in host.programs if p not in NOT_SERVICES],
        "kpki_files": _file_rows([(f.source, f.path, f.mode) for f in host.files]),
    }


def _inventory(
    plan: Plan,
    pki: str,
    facts: Mapping[str, dict],
    header: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """An inventory of the hosts in `facts` (host -> its variables), each in its role's group
    at its address; `groups`: more groups (name -> hosts) the plays name."""
    found = layout(plan)
    addresses = host_addresses(plan, found)
    by_role: dict[str, dict] = {}
    for host in found.hosts:
        if host.name not in facts:
            continue
        address = addresses.address(host.name)
        values = {"ansible_host": address} if address else {}
        by_role.setdefault(role(host.programs), {})[host.name] = {**values, **facts[host.name]}
    children: dict = {group: {"hosts": by_role[group]} for group in ROLES if group in by_role}
    for group, hosts in (groups or {}).items():
        children[group] = {"hosts": {h: {} for h in hosts}}
    data = {
        "all": {
            "vars": {"kpki_pki": pki, "kpki_root": "", "kpki_restart": True},
            "children": children,
        }
    }
    lines = list(header) + [
        "# kpki_pki: the output folder the files are copied from. kpki_root: prefixed to every",
        "# path (try it in a scratch folder first). kpki_restart: false installs without",
        "# restarting services.",
    ]
    for host, why in addresses.missing.items():
        if host in facts:
            lines.append(f"# {host}: no address in the recipe ({why}), dialled by its name")
    return "\n".join(lines) + "\n" + yamltext.dump(data)


def inventory(plan: Plan, pki: str) -> str:
    """The inventory: each host in its role's group, its address, files and services;
    `pki` (the output folder, absolute) is where the files are copied from."""
    found = layout(plan)
    header = [
        f"# kpki_openssl inventory: recipe {plan.recipe}. Each host of `kpki-openssl hosts`, by",
        "# role, at the address the recipe gives it (ansible_host; a host without one is dialled",
        "# by its name); kpki_files is its map from `hosts --json`.",
    ]
    return _inventory(plan, pki, {h.name: _host_vars(found, h.name) for h in found.hosts}, header)


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

RETIRE = {
    "name": "once restarted, delete what no file names any more (kpki_absent)",
    "hosts": "all",
    "become": True,
    "gather_facts": False,
    "tasks": [
        {
            "name": "the files the rotation's earlier stages put beside the recipe's",
            "kpki_install": {"absent": "{{ kpki_absent }}", "root": "{{ kpki_root }}"},
        }
    ],
}


def _restarts(restart: Restart) -> dict:
    play: dict = {"name": f"restart: {restart.name}", "hosts": restart.group}
    if restart.serial:
        play["serial"] = restart.serial
    services = restart.services
    play.update(
        {
            "become": True,
            "gather_facts": False,
            "tasks": [
                {
                    "name": "restart the services that read a file that changed",
                    "ansible.builtin.service": {"name": "{{ item }}", "state": "restarted"},
                    "loop": services if isinstance(services, str) else list(services),
                    "when": "kpki_restart | bool and kpki_installed is changed",
                }
            ],
        }
    )
    return play


def _playbook(
    header: str, restarts: Sequence[Restart], after: Sequence[dict] = (), first: Sequence[dict] = ()
) -> str:
    """The install play (every host at once; `first`: tasks before its install), the restart
    plays in order, then `after`."""
    import yaml

    install = {**INSTALL, "tasks": [*first, *INSTALL["tasks"]]} if first else INSTALL
    plays = [install, *(_restarts(r) for r in restarts), *after]
    return header + yaml.safe_dump(plays, sort_keys=False, default_flow_style=False, width=4096)


def playbook(plan: Plan) -> str:
    """The playbook: every host's files at once, then one restart play per role group
    present, in safe order."""
    groups = {role(h.programs) for h in layout(plan).hosts}
    header = (
        f"# kpki_openssl playbook: recipe {plan.recipe}. Puts each host's files in place (the\n"
        "# map of `kpki-openssl hosts --json`, held by the inventory), all hosts at once, then\n"
        "# restarts the services that read a file that changed: etcd members one at a time,\n"
        "# then the control plane one host at a time, then the nodes. Running it again changes\n"
        "# nothing and restarts nothing.\n"
        f"#   ansible-playbook -i {INVENTORY} {PLAYBOOK} --check   # what would change\n"
        f"#   ansible-playbook -i {INVENTORY} {PLAYBOOK}\n"
    )
    return _playbook(header, [r for r in PLAYS if r.group in groups])


def files(plan: Plan, pki: str) -> dict[str, str]:
    """The files of the export, by name: the inventory, the playbook and its module."""
    return _with_module({INVENTORY: inventory(plan, pki), PLAYBOOK: playbook(plan)})


def _with_module(texts: dict[str, str]) -> dict[str, str]:
    return {**texts, MODULE: (Path(__file__).parent / MODULE).read_text()}


# ----- a rotation stage


def restart_group(program: str) -> str:
    """The inventory group of the hosts where `program` restarts in a stage."""
    return "restart_" + program.replace("-", "_")


def stage_restarts(
    found: Sequence[deploy_rotation.HostChange],
) -> tuple[dict[str, list[str]], list[Restart]]:
    """A stage's restart plan: a group per program with the hosts where a file it reads
    changes, and the plays over them in the rotation's order."""
    groups: dict[str, list[str]] = {}
    plays = []
    for program in rotation.RESTART_ORDER:
        hosts = [c.host for c in found if program in c.restart]
        if not hosts:
            continue
        group = restart_group(program)
        groups[group] = hosts
        if program in ONE_AT_A_TIME:
            plays.append(Restart(group, f"{program}: {ONE_AT_A_TIME[program]}, one at a time",
                                 1, (program,)))  # fmt: skip
        else:
            plays.append(Restart(group, program, 0, (program,)))
    return groups, plays


def stage_order(restarts: Sequence[Restart]) -> list[str]:
    """The restart plays as a person reads them: 'etcd one at a time', 'kubelet', ..."""
    return [
        " ".join(r.services) + (" one at a time" if r.serial == 1 else "")
        for r in restarts
        if not isinstance(r.services, str)
    ]


def stage_files(full: Plan, stage: rotation.Stage, pki: str) -> dict[str, str]:
    """`export --rotate-ca CA --stage STAGE --format ansible`: the inventory (each host's files
    of this stage, nothing else; at remove, the paths it retires), the playbook, its module."""
    found = deploy_rotation.changes(full, stage)
    gone = deploy_rotation.retired(full, stage)
    facts: dict[str, dict] = {}
    for host in layout(full).hosts:
        mine = [c for c in found if c.host == host.name]
        if not mine and host.name not in gone:
            continue
        facts[host.name] = {
            "kpki_services": list(mine[0].restart) if mine else [],
            "kpki_files": _file_rows(mine[0].files) if mine else [],
        }
        if stage.stage == "remove":
            facts[host.name]["kpki_absent"] = list(gone.get(host.name, ()))
    groups, restarts = stage_restarts(found)
    typed = f"rotate-ca {stage.ca} --stage {stage.stage}"
    remove = stage.stage == "remove"
    header = comment(
        f"kpki_openssl inventory: recipe {full.recipe}, {typed}. Each host whose files this "
        "stage changes, by role, at the address the recipe gives it; kpki_files: the files of "
        "this stage it receives (nothing else); kpki_services: what restarts there; "
        + (
            "kpki_absent: what the rotation put on it that no file names after remove; "
            if remove
            else ""
        )
        + "restart_*: the hosts where each program restarts."
    ).splitlines()
    order = ", ".join(stage_order(restarts)) or "none"
    text = comment(
        f"kpki_openssl playbook: recipe {full.recipe}, {typed}, run after that stage has run "
        "in the output folder"
        + (
            " (written before it, as the stage ends the rotation; it waits for it)"
            if remove
            else ""
        )
        + ". Puts each host's files of the stage in place, all hosts at "
        f"once, then restarts, in the rotation's order ({order}), the programs that read a "
        "file that changed"
        + ("; then deletes what no file names any more (kpki_absent)." if remove else ".")
        + " Running it again changes nothing and restarts nothing."
    ) + (
        f"#   ansible-playbook -i {INVENTORY} {PLAYBOOK} --check   # what would change\n"
        f"#   ansible-playbook -i {INVENTORY} {PLAYBOOK}\n"
    )
    after = [RETIRE] if remove else []
    first = [_finished(typed, stage.files.names)] if remove else []
    return _with_module(
        {
            INVENTORY: _inventory(full, pki, facts, header, groups),
            PLAYBOOK: _playbook(text, restarts, after, first),
        }
    )


def _finished(typed: str, names: Sequence[str]) -> dict:
    """remove's playbook is written before remove runs (after it, the folder holds no rotation
    to export); it starts only once the output folder has finished it: the rotation's own
    files are gone from there. Else it would send the old CA under the recipe's names."""
    return {
        "name": f"the output folder has finished {typed} (the rotation's own files are gone)",
        "ansible.builtin.assert": {
            "that": "query('ansible.builtin.fileglob', *(kpki_rotation_files | "
            "map('regex_replace', '^', kpki_pki ~ '/'))) | length == 0",
            "fail_msg": f"run 'kpki-openssl {typed}' in {{{{ kpki_pki }}}} first",
            "quiet": True,
        },
        "vars": {"kpki_rotation_files": list(names)},
        "run_once": True,
    }
