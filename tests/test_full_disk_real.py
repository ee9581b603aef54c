"""A real full disk: `run` on a small tmpfs, filled at several byte budgets, for each key type
and for --jobs 1 and 2. Whatever the budget, the run ends with exit 0 or one clear error and no
traceback; nothing empty or cut short is left in the folder (openssl can exit 0 when its write
fails); commands.sh still parses; the same folder, given room (the tmpfs remounted larger),
resumes to a PKI the oracle verifies; and the log, replayed in an empty folder, builds one too.

Needs root (mount); skipped otherwise, never under CI=true (CI runs as root).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kpki_openssl.cli import main as cli_main
from tests.conftest import IN_CI, need_program, need_root
from tests.safety_recipes import assert_complete_pki, assert_no_broken_file, replay, tiny_recipe

pytestmark = pytest.mark.long  # a full disk at every byte: the long lane

# (key type, --jobs, tmpfs size in KiB). tmpfs counts whole 4 KiB pages: the tiny PKI needs
# ~90 KiB, so these stop it at the CA, in the leaves and in the kubeconfig/flags steps.
CASES = [
    ("ecdsa", 1, 20),
    ("ecdsa", 1, 44),
    ("ecdsa", 1, 64),
    ("ed25519", 1, 28),
    ("ed25519", 1, 60),
    ("ed25519", 2, 52),
    ("ecdsa", 2, 36),
    ("rsa", 1, 48),
]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A tmpfs mounted on tmp_path/disk; yields (folder, remount(size_kib)); always unmounted."""
    need_root()
    disk = tmp_path / "disk"
    disk.mkdir(mode=0o700)
    sizes: list[int] = []

    def mount(kib: int) -> None:
        opts = f"size={kib}k,mode=0700" + (",remount" if sizes else "")
        argv = ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(disk)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            if IN_CI:
                pytest.fail(f"mount failed: {done.stderr.strip()}")
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        sizes.append(kib)

    try:
        yield disk, mount
    finally:
        if sizes:
            subprocess.run(["umount", str(disk)], capture_output=True, timeout=30)


@pytest.mark.parametrize(("key_type", "jobs", "kib"), CASES)
def test_a_full_disk_never_leaves_a_false_file(
    small_disk, tmp_path: Path, capsys, key_type: str, jobs: int, kib: int
) -> None:
    need_program("openssl")
    disk, mount = small_disk
    recipe = tiny_recipe(tmp_path)
    out = disk / "pki"
    argv = ["run", "all", "--quiet", "--recipe", str(recipe), "--out", str(out)]
    argv += ["--jobs", str(jobs), "--set", f"key_type={key_type}"]
    mount(kib)
    capsys.readouterr()
    code = cli_main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 1, "the budget did not cut the run short: the case tests nothing"
    first = err.splitlines()[0]
    assert first.startswith("kpki-openssl: error: "), err
    if "command failed" in first:  # openssl's words, and ours about the disk
        assert "bytes free: an earlier command's file may be empty" in err, err
    else:  # our own message: one line, naming a file
        assert len(err.splitlines()) == 1, err
        assert str(out) in first or "step " in first, err
    if out.is_dir():
        assert_no_broken_file(out)
        log = out / "commands.sh"
        if log.exists():
            syntax = subprocess.run(["bash", "-n", str(log)], capture_output=True, timeout=30)
            assert syntax.returncode == 0, syntax.stderr
    mount(4096)  # the same folder, now with room: the run resumes and finishes
    assert cli_main(argv) == 0, capsys.readouterr().err
    assert_complete_pki(out)
    replayed = replay(out / "commands.sh", tmp_path / "replay")
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert_complete_pki(tmp_path / "replay")
