"""`export --rotate-ca ca --stage ... --format ansible` for real: the fleet of
test_fleet_real.py (each host a network namespace with its own sshd and root folder; the
deployer runs ansible-playbook over ssh), one fleet for ca's whole rotation:

- trust: --check (nothing written), for real (each host's root then holds exactly the stage's
  files, with their modes and the folder's bytes), again (changed=0);
- switch: for real;
- remove: its playbook refuses to start while the folder has not run remove; then for real
  (the bundle, the signer's copy and the new key deleted: each host holds exactly its map of
  `hosts`, byte for byte), and again (changed=0).

The restarts are skipped (-e kpki_restart=false) as in `prove --fleet`: no service manager
runs in a namespace; the restart plays' order is tested in test_rotate_export.py.
Needs what test_fleet_real.py needs (it skips on a user's machine without it, fails in CI).
About 30 s on two shared cores: the PKI and its three stages ~4 s, the fleet ~2 s, seven
ansible-playbook runs ~3-4 s each.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

from kpki_openssl.cli import main as cli_main
from tests.test_fleet_real import HOSTS, SETS, need_fleet, scratch_in, traces

pytestmark = [pytest.mark.real, pytest.mark.long]


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
