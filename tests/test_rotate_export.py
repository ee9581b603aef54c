"""`export --rotate-ca CA --stage STAGE`: a rotation stage as one host's install commands
(--host, the text `rotate-ca --host` prints), as an Ansible inventory and playbook, or as a bash
script; and the one-line refusals. A real folder (openssl, ECDSA: ~1 s a stage) but no fleet:
test_fleet_real.py runs the playbooks on one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from kpki_openssl.cli import main as cli_main
from tests.conftest import need_program, run_cli
from tests.test_ansible_export import FLEET, inventory_hosts

SETS = [*FLEET, "--set", "key_type=ecdsa"]
SECRETS = ("ca.key", "sa.key", "ca-new.key", "sa-new.key")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """The PKI at each point of ca's rotation (and of sa's): idle, trusted, switched."""
    need_program("openssl")
    top = tmp_path_factory.mktemp("rotate-export")
    idle = top / "idle"
    assert cli_main(["run", "all", "--quiet", "--out", str(idle), *SETS]) == 0
    out = {"idle": idle}
    for ca in ("ca", "sa"):
        before = idle
        for stage, name in (("trust", "trusted"), ("switch", "switched")):
            here = top / f"{ca}-{name}"
            shutil.copytree(before, here, symlinks=True)
            argv = ["rotate-ca", ca, "--stage", stage, "--quiet", "--out", str(here), *SETS]
            assert run_cli(*argv).returncode == 0
            out[f"{ca}-{name}"] = before = here
    return out


def stage_of(folder: Path, ca: str, stage: str):
    from kpki_openssl.checks import rotation_stage
    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    recipe = load_recipe("kubernetes")
    full = build_plan(recipe, resolve_variables(recipe, SETS[1::2]))
    where = rotation_stage.position(folder, full, ca)
    return full, rotation_stage.stage(folder, full, where, stage)


def stage_hosts(inventory: dict) -> dict[str, dict]:
    """Each host's variables, from the role groups (the restart_* groups list hosts only)."""
    children = inventory["all"]["children"]
    roles = {g: v for g, v in children.items() if not g.startswith("restart_")}
    return inventory_hosts({"all": {"children": roles}})


def export(folder: Path, where: Path, ca: str, stage: str) -> tuple[dict, list]:
    done = run_cli("export", "--rotate-ca", ca, "--stage", stage, "--format", "ansible",
                   "-o", str(where), "--out", str(folder), *SETS)  # fmt: skip
    assert done.returncode == 0, done.stderr
    inventory = yaml.safe_load((where / "inventory.yml").read_text())
    return inventory, yaml.safe_load((where / "playbook.yml").read_text())


# (CA, stage, the folder it is exported from): remove's playbook is written before remove runs
CASES = [
    ("ca", "trust", "ca-trusted"),
    ("ca", "switch", "ca-switched"),
    ("ca", "remove", "ca-switched"),
    ("sa", "trust", "sa-trusted"),
    ("sa", "switch", "sa-switched"),
    ("sa", "remove", "sa-switched"),
]


@pytest.mark.parametrize(("ca", "stage", "at"), CASES)
def test_each_host_gets_exactly_the_stages_files_and_restarts_in_the_rotations_order(
    folders, tmp_path: Path, ca: str, stage: str, at: str
) -> None:
    from kpki_openssl.deploy import rotation as deploy_rotation
    from kpki_openssl.plan.rotation import RESTART_ORDER

    inventory, playbook = export(folders[at], tmp_path / "ans", ca, stage)
    full, st = stage_of(folders[at], ca, stage)
    changes = deploy_rotation.changes(full, st)
    hosts = stage_hosts(inventory)
    expected = {
        c.host: [{"file": f, "path": p, "mode": f"{m:04o}"} for f, p, m in c.files] for c in changes
    }
    assert {h: v["kpki_files"] for h, v in hosts.items() if v["kpki_files"]} == expected
    assert inventory["all"]["vars"]["kpki_pki"] == str(folders[at].resolve())
    # restarts: one play per program, in RESTART_ORDER, on the hosts where its files changed
    restarts = [p for p in playbook if p["hosts"].startswith("restart_")]
    programs = [p["tasks"][0]["loop"] for p in restarts]
    assert programs == [[p] for p in RESTART_ORDER if any(p in c.restart for c in changes)]
    for play, (program,) in zip(restarts, programs):
        group = inventory["all"]["children"][play["hosts"]]["hosts"]
        assert sorted(group) == sorted(c.host for c in changes if program in c.restart)
        one_at_a_time = program in ("etcd", "kube-apiserver", "kubelet")
        assert play.get("serial") == (1 if one_at_a_time else None)
        assert "kpki_installed is changed" in play["tasks"][0]["when"]
    assert playbook[0]["hosts"] == "all" and "kpki_install" in playbook[0]["tasks"][-1]


def test_etcd_members_restart_one_at_a_time_before_the_api_servers(folders, tmp_path: Path) -> None:
    work = tmp_path / "pki"
    shutil.copytree(folders["idle"], work, symlinks=True)
    argv = ["rotate-ca", "etcd-ca", "--stage", "trust", "-q", "--out", str(work), *SETS]
    assert run_cli(*argv).returncode == 0
    inventory, playbook = export(work, tmp_path / "ans", "etcd-ca", "trust")
    assert [(p["hosts"], p.get("serial")) for p in playbook] == [
        ("all", None),
        ("restart_etcd", 1),
        ("restart_kube_apiserver", 1),
    ]
    children = inventory["all"]["children"]
    assert sorted(children["restart_etcd"]["hosts"]) == ["etcd1", "etcd2", "etcd3"]
    assert sorted(children["restart_kube_apiserver"]["hosts"]) == ["controlplane"]


@pytest.mark.parametrize(("ca", "stage", "at"), CASES)
def test_keys_go_only_where_hosts_sends_the_old_key_and_no_secret_text_is_exported(
    folders, tmp_path: Path, ca: str, stage: str, at: str
) -> None:
    inventory, _playbook = export(folders[at], tmp_path / "ans", ca, stage)
    done = run_cli("hosts", "--json", *SETS)
    assert done.returncode == 0, done.stderr
    old_key = {"ca": "ca.key", "sa": "sa.key"}[ca]
    holders = sorted(
        h["host"] for h in json.loads(done.stdout)["hosts"]
        if any(f["file"] == old_key for f in h["files"])
    )  # fmt: skip
    assert holders == ["controlplane"]
    hosts = stage_hosts(inventory)
    for name, values in hosts.items():
        keys = [f["file"] for f in values["kpki_files"] if f["file"] in SECRETS]
        assert not keys or name in holders, (name, keys)
        assert all(f["mode"] == "0600" for f in values["kpki_files"] if f["file"] in SECRETS)
    # the export holds paths only: no key's text, no token
    texts = "".join(p.read_text() for p in (tmp_path / "ans").rglob("*.yml"))
    assert "BEGIN" not in texts
    for secret in folders[at].rglob("*"):
        if secret.is_file() and (secret.suffix == ".key" or "token" in secret.name):
            body = [ln for ln in secret.read_text().splitlines() if len(ln) > 16]
            assert body and not any(ln in texts for ln in body), secret


@pytest.mark.parametrize(("ca", "stage", "at"), CASES)
def test_export_host_prints_what_rotate_ca_host_prints(
    folders, ca: str, stage: str, at: str
) -> None:
    for host in ("controlplane", "node02", "etcd1"):
        common = ["--stage", stage, "--host", host, "--out", str(folders[at]), *SETS]
        exported = run_cli("export", "--rotate-ca", ca, *common)
        printed = run_cli("rotate-ca", ca, *common)
        assert exported.returncode == printed.returncode == 0, exported.stderr
        assert exported.stdout == printed.stdout


@pytest.mark.parametrize("ca", ["ca", "sa"])
def test_remove_deletes_only_what_no_file_of_the_folder_names_after_remove(
    folders, tmp_path: Path, ca: str
) -> None:
    from kpki_openssl.deploy import rotation as deploy_rotation

    work = tmp_path / "pki"
    shutil.copytree(folders[f"{ca}-switched"], work, symlinks=True)
    inventory, playbook = export(work, tmp_path / "ans", ca, "remove")
    full, st = stage_of(work, ca, "remove")
    retired = deploy_rotation.retired(full, st)
    hosts = stage_hosts(inventory)
    absent = {h: v["kpki_absent"] for h, v in hosts.items() if v["kpki_absent"]}
    assert absent == {h: list(p) for h, p in retired.items()} and absent
    wanted = {
        "ca": {"ca-bundle.crt", "ca-signer.crt", "ca-new.key"},
        "sa": {"sa-new.key", "sa-new.pub"},
    }
    assert {Path(p).name for paths in absent.values() for p in paths} == wanted[ca]
    # the last play deletes them, after every restart; the first asserts remove has run
    assert "kpki_absent" in str(playbook[-1]["tasks"]) and playbook[-1]["hosts"] == "all"
    guard = playbook[0]["tasks"][0]
    assert "ansible.builtin.assert" in guard and guard["run_once"] is True
    assert set(guard["vars"]["kpki_rotation_files"]) >= {Path(p).name for p in wanted[ca]}
    # after remove, no file the hosts receive names any of them
    argv = ["rotate-ca", ca, "--stage", "remove", "-q", "--out", str(work), *SETS]
    assert run_cli(*argv).returncode == 0
    done = run_cli("hosts", "--json", *SETS)
    received = {f["file"] for h in json.loads(done.stdout)["hosts"] for f in h["files"]}
    for name in received:
        text = (work / name).read_text(errors="replace")
        assert not any(p in text or Path(p).name in text for ps in absent.values() for p in ps)
    # and a host's map never holds them
    paths = {f["path"] for h in json.loads(done.stdout)["hosts"] for f in h["files"]}
    assert not paths & {p for ps in absent.values() for p in ps}


def test_a_stage_alone_is_not_exported_as_a_script(folders, tmp_path: Path) -> None:
    """Without --host or --format ansible: one line pointing at rotate-ca (which also brings
    the folder's build records up to date), nothing written."""
    done = run_cli("export", "--rotate-ca", "ca", "--stage", "trust", "-o", str(tmp_path / "t.sh"),
                   "--out", str(folders["idle"]), *SETS)  # fmt: skip
    assert done.returncode == 2 and "rotate-ca ca --stage trust" in one_line(done)
    assert not (tmp_path / "t.sh").exists()


def one_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--stage", "trust"], "--stage"),
        (["--rotate-ca", "ca"], "--rotate-ca"),
        (["--rotate-ca", "ca", "--stage", "trust", "--node", "node01"], "--node"),
        (["ca", "--rotate-ca", "ca", "--stage", "trust"], "STEP"),
        (["--rotate-ca", "ca", "--stage", "trust", "--format", "markdown"], "--format"),
        (["--rotate-ca", "ca", "--stage", "trust", "--format", "ansible", "--host", "node01"],
         "--host"),
        (["--rotate-ca", "nosuch", "--stage", "trust"], "nosuch"),
        (["--rotate-ca", "ca", "--stage", "trust", "--host", "nosuch"], "nosuch"),
    ],
)  # fmt: skip
def test_combinations_that_make_no_sense_are_refused_in_one_line(
    folders, tmp_path: Path, argv: list[str], flag: str
) -> None:
    done = run_cli("export", *argv, "-o", "ans", "--out", str(folders["ca-trusted"]), *SETS)
    assert done.returncode == 2
    assert flag in one_line(done)
    assert not (tmp_path / "ans").exists()


def test_a_stage_the_folder_has_not_run_is_not_exported_as_a_playbook(
    folders, tmp_path: Path
) -> None:
    done = run_cli("export", "--rotate-ca", "ca", "--stage", "trust", "--format", "ansible",
                   "-o", "ans", "--out", str(folders["idle"]), *SETS)  # fmt: skip
    assert done.returncode == 1
    assert "rotate-ca ca --stage trust" in one_line(done)
    assert not (tmp_path / "ans").exists()


def test_an_existing_export_is_kept_without_overwrite(folders, tmp_path: Path) -> None:
    argv = ["export", "--rotate-ca", "ca", "--stage", "trust", "--format", "ansible",
            "-o", "ans", "--out", str(folders["ca-trusted"]), *SETS]  # fmt: skip
    assert run_cli(*argv).returncode == 0
    (tmp_path / "ans" / "playbook.yml").write_text("mine\n")
    done = run_cli(*argv)
    assert done.returncode == 2 and "--overwrite" in one_line(done)
    assert (tmp_path / "ans" / "playbook.yml").read_text() == "mine\n"
    assert run_cli(*argv, "--overwrite").returncode == 0
    assert (tmp_path / "ans" / "playbook.yml").read_text() != "mine\n"
