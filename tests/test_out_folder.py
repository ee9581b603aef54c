"""`--out` at an existing folder that holds files and is not ours is refused (one line, nothing
changed) unless --adopt-folder; the parents `--out` and `-o` make are never writable by others,
even under umask 000 (0755 less the umask)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, need_program, run_cli
from tests.safety_recipes import assert_complete_pki, tiny_recipe


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    found = {".": (folder.stat().st_mode, b"")}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = (path.lstat().st_mode, path.read_bytes())
    return found


def test_a_populated_folder_not_ours_is_refused_unless_adopted(tmp_path: Path) -> None:
    need_program("openssl")
    recipe = str(tiny_recipe(tmp_path))
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "notes.txt").write_text("not a PKI\n")
    before = snapshot(data)
    done = run_cli("run", "all", "--quiet", "--recipe", recipe, "--out", str(data))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--out" in done.stderr and str(data) in done.stderr and "--adopt-folder" in done.stderr
    assert snapshot(data) == before  # not chmod-ed, nothing made
    done = run_cli(
        "run", "all", "--quiet", "--recipe", recipe, "--out", str(data), "--adopt-folder"
    )
    assert done.returncode == 0, done.stderr
    assert_complete_pki(data)
    assert (data / "notes.txt").read_text() == "not a PKI\n"
    # from now on it is ours: a plain run finds nothing to do
    again = run_cli("run", "all", "--quiet", "--recipe", recipe, "--out", str(data))
    assert again.returncode == 0 and ": 0 steps run" in again.stdout, again.stderr
    # an empty folder, and one holding only a file the plan makes, are ours to fill
    for name, content in (("empty", None), ("partial", "ca.cnf")):
        folder = tmp_path / name
        folder.mkdir(mode=0o700)
        if content:
            (folder / content).write_text("[req]\n")
        done = run_cli("run", "ca", "--quiet", "--recipe", recipe, "--out", str(folder))
        assert done.returncode != 2 or "--adopt-folder" not in done.stderr, done.stderr


def test_parents_made_for_out_and_output_are_not_writable_by_others(tmp_path: Path) -> None:
    need_program("openssl")
    recipe = str(tiny_recipe(tmp_path))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    base = [sys.executable, "-m", "kpki_openssl"]
    runs = [
        [*base, "run", "ca", "--quiet", "--recipe", recipe, "--out", "a/b/pki"],
        [*base, "export", "--recipe", recipe, "-o", "c/d/build.sh"],
    ]
    for argv in runs:
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            preexec_fn=lambda: os.umask(0),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    for folder in ("a", "a/b", "c", "c/d"):
        mode = stat.S_IMODE((tmp_path / folder).stat().st_mode)
        assert mode == 0o755, (folder, oct(mode))
    assert stat.S_IMODE((tmp_path / "a/b/pki").stat().st_mode) == 0o700
