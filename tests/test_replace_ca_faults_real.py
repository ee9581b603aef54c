"""Real faults during `run all --replace-ca`, with two CAs: a full disk (a small tmpfs) at many
byte budgets, and a SIGKILL at each openssl call, each followed by a plain `run all` (the resume).

After the fault and after the resume, every old CA key is still in the folder or, byte for byte,
under .kpki/replaced/ (never only in the run's memory), no copy there is empty or cut short,
what the run says about the old keys is true, and nothing outside the folder changed. The
tmpfs cases need root (mount); skipped otherwise, never under CI=true (CI runs as root).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO, need_program, need_root, run_cli
from tests.oracle import openssl_verify
from tests.safety_recipes import TINY, assert_complete_pki, tiny_recipe

pytestmark = pytest.mark.long  # kills, a full tmpfs, two writers: the long lane

# a second CA: its files must be copied before anything about either CA is written, not when
# its own step starts
TWO_CAS = TINY.replace(
    "kubeconfigs:",
    "  - name: front-ca\n"
    "    profile: ca\n"
    "    subject: {CN: TINY-FRONT-CA}\n"
    "  - name: proxy\n"
    "    ca: front-ca\n"
    "    profile: client\n"
    "    subject: {CN: front-proxy-client}\n"
    "kubeconfigs:",
)
CA_KEYS = ("ca.key", "front-ca.key")


@pytest.fixture(scope="module")
def two_cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A finished two-CA PKI (built once for the module, never written to: each test copies
    it), and the arguments that build it."""
    need_program("openssl")
    folder = tmp_path_factory.mktemp("two-cas")
    recipe = tiny_recipe(folder, TWO_CAS)
    base = folder / "base"
    args = ["--quiet", "--jobs", "1", "--recipe", str(recipe), "--out"]
    done = run_cli("run", "all", *args, str(base))
    assert done.returncode == 0, done.stderr
    return base, args


def tree(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, bytes]]:
    """Every path under `root` but those in `skip`: its mode and (for a file) its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        info = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        found[str(path.relative_to(root))] = (info.st_mode, data)
    return found


def assert_old_keys_safe(out: Path, old: dict[str, bytes], said: str = "") -> None:
    """Each old CA key is in the folder or copied whole under .kpki/replaced/; every copy there
    is whole; a folder the run named as holding the old files holds them."""
    replaced = out / ".kpki" / "replaced"
    copies = [p for p in replaced.rglob("*") if p.is_file()] if replaced.is_dir() else []
    for copy in copies:
        assert copy.stat().st_size > 0 and not copy.name.startswith("."), copy
        assert copy.stat().st_mode & 0o077 == 0, copy
    for name, data in old.items():
        saved = [c for c in copies if c.name == name and c.read_bytes() == data]
        assert (out / name).read_bytes() == data or saved, f"{name}: the old key is lost"
    for line in said.splitlines():
        named = re.match(r"(?:replaced CA|.*--replace-ca of) (\S+): .* are in ([^);]+)", line)
        if named:
            ca, folder = named.groups()
            assert (Path(folder) / f"{ca}.key").read_bytes() == old[f"{ca}.key"], line
        assert "no copy of the old" not in line, line


def assert_resumed_whole(out: Path, args: list[str], old: dict[str, bytes]) -> None:
    """A plain `run all` finishes the folder: a PKI that verifies, old keys still safe."""
    done = run_cli("run", "all", *args, str(out))
    assert done.returncode == 0, done.stderr
    assert_old_keys_safe(out, old, done.stdout)
    assert not (out / ".kpki" / "replacing.json").exists()
    assert_complete_pki(out)
    assert openssl_verify(out / "front-ca.crt", out / "proxy.crt").returncode == 0


# ----- SIGKILL at each openssl call -----


def killing_openssl(folder: Path, at: int) -> dict:
    """An environment whose `openssl` SIGKILLs the run (its parent) at its `at`th call."""
    real = shutil.which("openssl")
    folder.mkdir()
    count = folder / "count"
    count.write_text("0")
    wrapper = folder / "openssl"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"n=$(( $(cat {count}) + 1 )); echo $n > {count}\n"
        f'[ "$n" -eq {at} ] && kill -9 $PPID && sleep 5 && exit 1\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}", PYTHONPATH=str(REPO))


# With --jobs 1 the run calls `openssl version` (1), then, in plan order (CAs first): ca 2-4,
# front-ca 5-7 (genpkey, req, x509), apiserver 8-9, admin 10-11, proxy 12-13 (req, x509: their
# keys are kept). One kill in each state the old keys can be in: both copied and nothing
# replaced (2), ca's new key and CSR staged (4), ca replaced and front-ca's step not started
# (5: its old key must be saved already), both CAs replaced, no leaf re-issued (8), the last
# leaf (12). Every call (2-13) was tried once; the others repeat one of these states.
KILL_AT = (2, 4, 5, 8, 12)


@pytest.mark.parametrize("at", KILL_AT)
def test_a_kill_during_replace_ca_loses_no_old_key(
    two_cas: tuple[Path, list[str]], tmp_path: Path, at: int
) -> None:
    base, args = two_cas
    old = {name: (base / name).read_bytes() for name in CA_KEYS}
    out = tmp_path / "pki"
    shutil.copytree(base, out, symlinks=True)
    outside = tree(tmp_path, (out, tmp_path / "bin"))
    env = killing_openssl(tmp_path / "bin", at)
    argv = [sys.executable, "-m", "kpki_openssl", "run", "all", *args, str(out), "--replace-ca"]
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr  # really killed at that call
    assert_old_keys_safe(out, old)
    assert_resumed_whole(out, args, old)
    assert all((out / name).read_bytes() != old[name] for name in CA_KEYS)  # replaced
    assert tree(tmp_path, (out, tmp_path / "bin")) == outside


# ----- a full disk -----


def test_a_full_disk_during_replace_ca_loses_no_old_key(
    two_cas: tuple[Path, list[str]], tmp_path: Path
) -> None:
    need_root()
    base, args = two_cas
    old = {name: (base / name).read_bytes() for name in CA_KEYS}
    disk = tmp_path / "disk"
    disk.mkdir(mode=0o700)
    outside = tree(tmp_path, (disk,))

    def mount(opts: str) -> None:
        argv = ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(disk)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            if IN_CI:
                pytest.fail(f"mount failed: {done.stderr.strip()}")
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")

    outcomes = set()
    # tmpfs counts 4 KiB pages: 0-5 stop it in the copies of the two CAs (2 files each), the
    # rest in replacing.json, the new CAs and their leaves
    for budget in (0, 1, 2, 3, 4, 5, 7, 10, 14):
        mount("size=4096k,mode=0700")
        try:
            out = disk / "pki"
            shutil.copytree(base, out, symlinks=True)
            st = os.statvfs(disk)
            used = (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
            mount(f"size={used + 4 * budget}k,remount")
            done = run_cli("run", "all", *args, str(out), "--replace-ca")
            assert "Traceback" not in done.stderr
            if done.returncode != 0:  # one line, or openssl's words and ours about the disk
                first = done.stderr.splitlines()[0]
                assert done.returncode == 1 and first.startswith("kpki-openssl: error: ")
                if "command failed" in first:
                    assert "bytes free: an earlier command's file may be empty" in done.stderr
                else:
                    assert len(done.stderr.splitlines()) == 1, done.stderr
            outcomes.add(done.returncode)
            assert_old_keys_safe(out, old, done.stdout)
            assert [p.name for p in disk.iterdir()] == ["pki"]
            mount("size=4096k,remount")
            assert_resumed_whole(out, args, old)
        finally:
            subprocess.run(["umount", str(disk)], capture_output=True, timeout=30)
        assert tree(tmp_path, (disk,)) == outside, budget
    assert 1 in outcomes  # the budgets did cut runs short
