"""Our own scripts never replace a key: the exported build script and commands.sh, run in a folder
that already holds a PKI, keep every key (the node script's guard); `-o FILE` never overwrites a
file unless --overwrite says so, and never a private key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kpki_openssl.plan.shell_text import kept_key_line
from kpki_openssl.plan.steps import Command
from tests.conftest import need_program, run_cli
from tests.safety_recipes import assert_complete_pki, tiny_recipe


def bash(script: Path, cwd: Path) -> subprocess.CompletedProcess:
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    return subprocess.run(
        ["bash", str(script)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_exported_script_and_the_log_keep_every_key_of_a_built_folder(
    tmp_path: Path,
) -> None:
    need_program("openssl")
    recipe = str(tiny_recipe(tmp_path))
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--quiet", "--recipe", recipe, "--out", str(out)).returncode == 0
    keys = {p.name: p.read_bytes() for p in out.glob("*.key")}
    assert set(keys) == {"ca.key", "apiserver.key", "admin.key"}
    script = tmp_path / "build.sh"
    assert run_cli("export", "--recipe", recipe, "-o", str(script)).returncode == 0
    log = tmp_path / "commands.sh"
    log.write_bytes((out / "commands.sh").read_bytes())
    for each in (script, log):
        done = bash(each, out)
        assert done.returncode == 0, (each.name, done.stderr[-2000:])
        assert {p.name: p.read_bytes() for p in out.glob("*.key")} == keys, each.name
        assert_complete_pki(out)  # the certificates it made are of the kept keys
    # and in an empty folder they still make every key
    for each in (script, log):
        empty = tmp_path / f"empty-{each.stem}"
        empty.mkdir()
        assert bash(each, empty).returncode == 0
        assert_complete_pki(empty)


@pytest.mark.parametrize("present", [(), ("a",), ("b",), ("a", "b")])
def test_a_key_command_runs_only_when_none_of_its_files_exists(
    tmp_path: Path, present: tuple[str, ...]
) -> None:
    make = Command(("sh", "-c", "echo new > a; echo new > b"), writes=("a", "b"), private=True)
    for name in present:
        (tmp_path / name).write_text("old\n")
    script = tmp_path / "s.sh"
    script.write_text("set -euo pipefail\n" + kept_key_line(make) + "echo done\n")
    done = bash(script, tmp_path)
    assert done.returncode == 0 and done.stdout == "done\n", done.stderr
    for name in ("a", "b"):
        want = "old\n" if name in present else ("" if present else "new\n")
        assert ((tmp_path / name).read_text() if (tmp_path / name).exists() else "") == want


def test_output_never_overwrites_unless_asked_and_never_a_key(tmp_path: Path) -> None:
    target = tmp_path / "build.sh"
    target.write_text("mine\n")
    done = run_cli("export", "-o", str(target))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "-o:" in done.stderr and str(target) in done.stderr and "--overwrite" in done.stderr
    assert target.read_text() == "mine\n"
    assert run_cli("export", "-o", str(target), "--overwrite").returncode == 0
    assert target.read_text().startswith("#!/usr/bin/env bash\n")
    key = tmp_path / "ca.key"
    key.write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
    )
    before = key.read_bytes()
    for extra in ((), ("--overwrite",)):
        done = run_cli("export", "-o", str(key), *extra)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert str(key) in done.stderr
        assert key.read_bytes() == before
    folder = tmp_path / "ansible"
    folder.mkdir()
    (folder / "playbook.yml").write_text("mine\n")
    done = run_cli("export", "--format", "ansible", "-o", str(folder))
    assert done.returncode == 2 and "--overwrite" in done.stderr, done.stderr
    assert [p.name for p in folder.iterdir()] == ["playbook.yml"]  # nothing written
