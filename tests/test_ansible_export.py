"""`export --format ansible` (an inventory and a playbook) and the one-line refusals of
`prove --fleet`: nothing here needs root or a fleet (test_fleet_real.py runs both for real)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

FLEET = [
    "--set", "etcd_peers=etcd1,etcd2,etcd3",
    "--set", "etcd_ips=10.0.0.21,10.0.0.22,10.0.0.23",
    "--set", "etcd_servers=https://10.0.0.21:2379,https://10.0.0.22:2379,https://10.0.0.23:2379",
    "--set", "node_ips=node01=10.0.0.31,node02=10.0.0.32,node03=10.0.0.33",
]  # fmt: skip


def export(tmp_path: Path, *sets: str) -> tuple[dict, list]:
    done = run_cli("export", "--format", "ansible", "-o", "ans", "--out", "pki", *sets)
    assert done.returncode == 0, done.stderr
    inventory = yaml.safe_load((tmp_path / "ans" / "inventory.yml").read_text())
    playbook = yaml.safe_load((tmp_path / "ans" / "playbook.yml").read_text())
    return inventory, playbook


def inventory_hosts(inventory: dict) -> dict[str, dict]:
    return {
        name: values
        for group in inventory["all"]["children"].values()
        for name, values in group["hosts"].items()
    }


def test_the_inventory_holds_exactly_the_map_of_hosts_json(tmp_path: Path) -> None:
    inventory, _playbook = export(tmp_path, *FLEET)
    done = run_cli("hosts", "--json", *FLEET)
    assert done.returncode == 0, done.stderr
    expected = {
        h["host"]: [{"file": f["file"], "path": f["path"], "mode": f["mode"]} for f in h["files"]]
        for h in json.loads(done.stdout)["hosts"]
    }
    hosts = inventory_hosts(inventory)
    assert {h: v["kpki_files"] for h, v in hosts.items()} == expected
    assert inventory["all"]["vars"]["kpki_pki"] == str(tmp_path / "pki")


def test_each_host_is_at_the_address_the_recipe_gives_it_in_the_group_of_its_role(
    tmp_path: Path,
) -> None:
    inventory, _playbook = export(tmp_path, *FLEET)
    groups = {g: sorted(v["hosts"]) for g, v in inventory["all"]["children"].items()}
    assert groups == {
        "etcd": ["etcd1", "etcd2", "etcd3"],
        "control_plane": ["controlplane"],
        "nodes": ["node01", "node02", "node03"],
    }
    addresses = {h: v["ansible_host"] for h, v in inventory_hosts(inventory).items()}
    assert addresses == {
        "etcd1": "10.0.0.21", "etcd2": "10.0.0.22", "etcd3": "10.0.0.23",
        "controlplane": "172.17.0.87",  # apiserver_ips without the Service IP: the advertise address
        "node01": "10.0.0.31", "node02": "10.0.0.32", "node03": "10.0.0.33",
    }  # fmt: skip


def test_ca_keys_and_sa_key_go_only_where_hosts_sends_them(tmp_path: Path) -> None:
    inventory, _playbook = export(tmp_path, *FLEET)
    holders = {
        f["file"]: sorted(h for h, v in inventory_hosts(inventory).items()
                          if any(x["file"] == f["file"] for x in v["kpki_files"]))
        for v in inventory_hosts(inventory).values()
        for f in v["kpki_files"]
    }  # fmt: skip
    assert holders["ca.key"] == ["controlplane"]
    assert holders["sa.key"] == ["controlplane"]
    assert "etcd-ca.key" not in holders and "front-proxy-ca.key" not in holders


def test_the_playbook_restarts_etcd_one_member_at_a_time_then_the_control_plane_then_nodes(
    tmp_path: Path,
) -> None:
    _inventory, playbook = export(tmp_path, *FLEET)
    assert [(p["hosts"], p.get("serial")) for p in playbook] == [
        ("all", None),  # the files, every host at once
        ("etcd", 1),
        ("control_plane", 1),
        ("nodes", None),
    ]
    (install,) = playbook[0]["tasks"]
    assert "kpki_install" in install
    for play in playbook[1:]:
        (task,) = play["tasks"]
        assert "ansible.builtin.service" in task
        assert f"{install['register']} is changed" in task["when"]  # only after a change
    module = tmp_path / "ans" / "library" / "kpki_install.py"
    assert "supports_check_mode=True" in module.read_text()


def test_a_host_without_an_address_is_named_and_dialled_by_its_name(tmp_path: Path) -> None:
    inventory, _playbook = export(tmp_path)  # the bundled defaults: no node_ips
    node = inventory_hosts(inventory)["node01"]
    assert "ansible_host" not in node
    text = (tmp_path / "ans" / "inventory.yml").read_text()
    assert "# node01: no address" in text and "node_ips" in text


def test_export_ansible_with_steps_is_refused(tmp_path: Path) -> None:
    done = run_cli("export", "ca", "--format", "ansible", "-o", "ans")
    assert done.returncode == 2 and not (tmp_path / "ans").exists()


# ---------------------------------------------------------------- prove --fleet refusals


def one_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_prove_fleet_names_each_host_without_an_address(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    done = run_cli("prove", "--fleet", "--out", "pki")  # the bundled defaults: no node_ips
    assert done.returncode == 2
    line = one_line(done)
    assert all(n in line for n in ("node01", "node02", "node03", "node_ips"))


def test_prove_fleet_on_a_recipe_without_hosts_says_so(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    done = run_cli("prove", "--fleet", "--out", "pki", "--recipe", "the-hard-way")
    assert done.returncode == 2
    assert "the-hard-way" in one_line(done)


def test_prove_fleet_says_in_one_line_that_it_needs_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pki").mkdir()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    done = run_cli("prove", "--fleet", "--out", "pki", *FLEET)
    assert done.returncode == 1
    assert "root" in one_line(done)
    assert not list(tmp_path.glob("kpki-fleet-*"))


def test_prove_fleet_names_the_package_of_a_missing_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pki").mkdir()
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no ip, no sshd, no etcd ...
    done = run_cli("prove", "--fleet", "--out", "pki", *FLEET)
    assert done.returncode == 1
    line = one_line(done)
    assert "ip (install iproute2)" in line and "ssh (install openssh-client)" in line
