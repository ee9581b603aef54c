"""Hostile output folders: symbolic links planted where the tool keeps its bookkeeping, a
folder of another user or writable by others, system folders as --out, and a disk that is
full under the log and the record. Each is refused in one line naming the path, and nothing
outside the folder changes (the outside tree is hashed before and after)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from kpki_openssl.base import safefs
from kpki_openssl.cli import main as cli_main
from kpki_openssl.execute import command_log, folder
from kpki_openssl.recipe import file_clashes
from tests.conftest import IN_CI, need_program, need_root
from tests.safety_recipes import tiny_recipe


def tree_digest(root: Path) -> dict[str, tuple]:
    """Every path under `root`: its type, mode, owner and content (or link target)."""
    out: dict[str, tuple] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = os.lstat(path)
        if path.is_symlink():
            what = ("link", os.readlink(path))
        elif path.is_file():
            what = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            what = ("dir",)
        out[str(path.relative_to(root))] = (*what, st.st_mode, st.st_uid, st.st_size)
    return out


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the output folder, with a file and a sub-folder an attack would hit."""
    root = tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    (root / "victim.txt").write_text("precious\n")
    (root / "sub" / "more.txt").write_text("also precious\n")
    os.chmod(root, 0o755)
    return root


def run(out: Path, recipe: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli_main(["run", "all", "--quiet", "--recipe", str(recipe), "--out", str(out), *extra])
    return code, capsys.readouterr().err


# (bookkeeping path, what it points at in the outside folder)
LINKS = [
    (".kpki", "sub"),
    (".kpki/stage", "sub"),
    (".kpki/lock", "victim.txt"),
    (".kpki/state.json", "victim.txt"),
    ("commands.sh", "victim.txt"),
]


@pytest.mark.parametrize(("link", "target"), LINKS)
def test_a_symlinked_bookkeeping_path_is_refused(
    tmp_path: Path, outside: Path, capsys, link: str, target: str
) -> None:
    out = tmp_path / "pki"
    (out / ".kpki").mkdir(parents=True, mode=0o700) if link != ".kpki" else out.mkdir(mode=0o700)
    os.symlink(outside / target, out / link)
    before = tree_digest(outside)
    code, err = run(out, tiny_recipe(tmp_path), capsys)
    assert code == 1, err
    assert err.count("\n") == 1, err
    assert f"{out / link}: is a symbolic link" in err, err
    assert tree_digest(outside) == before
    assert not (out / "ca.key").exists()  # refused before anything was made


def test_a_symlinked_backup_folder_is_refused_and_the_ca_kept(
    tmp_path: Path, outside: Path, capsys
) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    recipe = tiny_recipe(tmp_path)
    assert run(out, recipe, capsys)[0] == 0
    ca = (out / "ca.key").read_bytes(), (out / "ca.crt").read_bytes()
    os.symlink(outside / "sub", out / ".kpki" / "replaced")
    before = tree_digest(outside)
    code, err = run(out, recipe, capsys, "--replace-ca")
    assert code == 1, err
    assert f"{out / '.kpki' / 'replaced'}: is a symbolic link" in err, err
    assert tree_digest(outside) == before
    assert ((out / "ca.key").read_bytes(), (out / "ca.crt").read_bytes()) == ca


def test_a_hard_linked_log_is_refused(tmp_path: Path, outside: Path, capsys) -> None:
    out = tmp_path / "pki"
    out.mkdir(mode=0o700)
    os.link(outside / "victim.txt", out / "commands.sh")
    before = tree_digest(outside)
    code, err = run(out, tiny_recipe(tmp_path), capsys)
    assert code == 1, err
    assert f"{out / 'commands.sh'}: has other names (a hard link)" in err, err
    assert tree_digest(outside) == before


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_folder_where_the_log_belongs_is_refused_without_waiting(
    tmp_path: Path, capsys, kind: str
) -> None:
    out = tmp_path / "pki"
    out.mkdir(mode=0o700)
    os.mkfifo(out / "commands.sh") if kind == "fifo" else (out / "commands.sh").mkdir()
    code, err = run(out, tiny_recipe(tmp_path), capsys)  # a FIFO would block here before
    assert code == 1, err
    assert f"{out / 'commands.sh'}: " in err and err.count("\n") == 1, err


def test_a_folder_of_another_user_is_refused_and_left_alone(tmp_path: Path, capsys) -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI runs as root: this test must run there")
        pytest.skip("making a folder of another user needs root")
    out = tmp_path / "theirs"
    out.mkdir(mode=0o755)
    (out / "their-file").write_text("theirs\n")
    os.chown(out, 1234, 1234)
    before = tree_digest(tmp_path)
    code, err = run(out, tiny_recipe(tmp_path / "theirs" / ".."), capsys)
    assert code == 1, err
    assert "belongs to user id 1234, not to you" in err and err.count("\n") == 1, err
    after = tree_digest(tmp_path)
    after.pop("tiny.yaml"), before.pop("tiny.yaml", None)  # the test's own recipe file
    assert after == before


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_folder_others_may_write_to_is_refused_when_it_holds_files(
    tmp_path: Path, capsys, mode: int
) -> None:
    out = tmp_path / "open"
    out.mkdir()
    (out / "ca.key").write_text("planted\n")
    os.chmod(out, mode)
    before = tree_digest(out)
    code, err = run(out, tiny_recipe(tmp_path), capsys)
    assert code == 1, err
    assert f"others may write into it (mode {mode:04o}) and it is not empty" in err, err
    assert tree_digest(out) == before  # its mode too


def test_an_empty_folder_others_may_write_to_is_closed_first(tmp_path: Path) -> None:
    """`mkdir pki` under umask 002: nothing can have been planted yet, so it is made 0700."""
    out = tmp_path / "open"
    out.mkdir()
    os.chmod(out, 0o775)
    safefs.check_out_folder(out)
    assert os.stat(out).st_mode & 0o7777 == 0o700


@pytest.mark.parametrize("where", ["/", "/etc", "/usr", "/var", "/proc/self", "home", "link"])
def test_system_folders_and_home_are_refused_as_out(
    tmp_path: Path, capsys, monkeypatch, where: str
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    target = {"home": str(home), "link": str(tmp_path / "to-usr")}.get(where, where)
    if where == "link":
        os.symlink("/usr", target)  # resolved before the check
    real = os.path.realpath(target)
    before = os.stat(real)
    code, err = run(Path(target), tiny_recipe(tmp_path), capsys)
    assert code == 2, err
    assert err.startswith("kpki-openssl: error: --out: ") and err.count("\n") == 1, err
    after = os.stat(real)
    assert (after.st_mode, after.st_mtime_ns) == (before.st_mode, before.st_mtime_ns)


def test_bookkeeping_names_agree_with_the_runner() -> None:
    assert (file_clashes.LOG_NAME, file_clashes.META_DIR) == (command_log.LOG_NAME, folder.META_DIR)


# ----- a real full disk under the log and the record -----


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs, then filled to the last byte with a ballast file."""
    need_root()
    disk = tmp_path / "disk"
    disk.mkdir(mode=0o700)
    argv = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(disk)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        if IN_CI:
            pytest.fail(f"mount failed: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        log = disk / "commands.sh"
        log.write_text("# an entry\necho done\n")
        fd = os.open(disk / "ballast", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"x" * 512):
                pass
        except OSError:
            pass  # full: not one more byte fits
        finally:
            os.close(fd)
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True, timeout=30)


def test_a_log_entry_goes_in_whole_or_not_at_all(full_disk: Path) -> None:
    log = full_disk / "commands.sh"
    old = log.read_bytes()
    entry = b"cat > x.cnf <<'EOF'\n" + b"# padding\n" * 2000 + b"EOF\n"
    with pytest.raises(safefs.WriteFailed) as caught:
        safefs.append_whole(log, entry)
    assert str(caught.value) == f"{log}: cannot append to the log: No space left on device"
    assert log.read_bytes() == old  # cut back: no half here-document
    assert subprocess.run(["bash", "-n", str(log)], timeout=30).returncode == 0


def test_a_whole_file_write_on_a_full_disk_names_the_file_and_leaves_no_temp(
    full_disk: Path,
) -> None:
    target = full_disk / "state.json"
    with pytest.raises(safefs.WriteFailed) as caught:
        safefs.write_file(target, "x" * 100_000, 0o600, parent_exists=True)
    assert str(caught.value) == f"{target}: cannot write: No space left on device"
    assert sorted(p.name for p in full_disk.iterdir()) == ["ballast", "commands.sh"]


def test_a_linked_sub_folder_never_receives_the_files(
    tmp_path: Path, outside: Path, capsys
) -> None:
    """A row whose files go in a sub-folder (`file: sub/admin`): a planted `sub -> outside`
    is refused before the step's files are renamed in."""
    from tests.safety_recipes import TINY

    need_program("openssl")
    recipe = tiny_recipe(
        tmp_path,
        TINY.replace(
            "    subject: {CN: kube-admin,", "    file: sub/admin\n    subject: {CN: kube-admin,"
        ),
    )
    out = tmp_path / "pki"
    out.mkdir(mode=0o700)
    os.symlink(outside / "sub", out / "sub")
    before = tree_digest(outside)
    code, err = run(out, recipe, capsys, "--jobs", "1")
    assert code == 1, err
    assert f"{out / 'sub'}: is a symbolic link" in err and err.count("\n") == 1, err
    assert tree_digest(outside) == before
    assert (out / "ca.crt").exists()  # the steps before it finished normally


def test_sub_folders_of_system_folders_are_fine_as_out() -> None:
    """kubeadm's /etc/kubernetes/pki style: only the system folder itself is refused."""
    safefs.check_out_folder(Path("/etc/kubernetes-kpki-test/pki"))  # not made: nothing to refuse
    with pytest.raises(safefs.InputError):
        safefs.check_out_folder(Path("/etc/../etc"))
