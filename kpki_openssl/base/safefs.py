"""File I/O that a hostile folder or a full disk cannot turn against us.

Why: the output folder may hold symbolic links planted by someone else (`.kpki -> /etc`), may
belong to another user, or may sit on a disk that fills up mid-run (where openssl can still exit
0 and leave an empty file). So the tool's bookkeeping paths are opened without following links
and refused when they are not what they should be; every file is written whole (or not at all),
fsync'ed, and renamed in; a log entry is appended whole or cut back; every failure names its
file in one line.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path

from kpki_openssl.base import messages
from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.base.folder_names import LOG_NAME, META_DIR

# Folders that are never an output folder themselves: `run` makes its folder 0700 and fills
# it, which would break the system. Sub-folders of most are fine (/etc/kubernetes/pki is
# kubeadm's); under the kernel's own file systems nothing is.
SYSTEM_FOLDERS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/snap",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/local",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/share",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",
    }
)
KERNEL_TREES = ("/proc", "/sys", "/dev")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafePath(KpkiError):
    """A bookkeeping path that is a link, of another user, or not the kind of file expected."""


class WriteFailed(KpkiError):
    """A write that did not complete (a full disk, a read-only folder): names the file."""


def failure(path: Path | str, action: str, exc: OSError) -> WriteFailed:
    """One line naming the file and the system's reason, never a bare 'No space left'."""
    reason = exc.strerror or str(exc)
    return WriteFailed(messages.one_line(f"{path}: cannot {action}: {reason}"))


# ----- the output folder -----


def check_out_folder(out: Path) -> None:
    """Refuse `out` before anything is written: a system folder, `/`, the home folder itself,
    a folder of another user, or one that others may write to and that already holds files
    (they could have planted keys or links in it). A folder that does not exist yet is fine:
    `run` makes it 0700."""
    real = Path(os.path.realpath(out))
    text = str(real)
    home = os.path.realpath(os.path.expanduser("~"))
    if text in SYSTEM_FOLDERS or any(text.startswith(t + "/") for t in KERNEL_TREES):
        raise InputError(
            f"--out: {str(out)!r} is the system folder {text}; choose a folder of your own"
        )
    if text == home:
        raise InputError(
            f"--out: {str(out)!r} is your home folder itself; use a folder inside it (e.g. ~/pki)"
        )
    try:
        st = os.stat(real)
    except OSError:  # missing (run makes it), or cannot be made: mkdir says why
        return
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"--out: {str(out)!r} is not a folder")
    if st.st_uid != os.geteuid():
        raise UnsafePath(
            f"{out}: belongs to user id {st.st_uid}, not to you (id {os.geteuid()}); "
            "kpki-openssl writes only into a folder of its own user: choose another --out"
        )
    if st.st_mode & 0o022:
        # An empty folder (`mkdir pki` under umask 002) is ours to close: made 0700 first, so
        # nothing can be planted after the look; one that already holds something is refused
        # and left as it was.
        mode = stat.S_IMODE(st.st_mode)
        os.chmod(real, 0o700)
        if any(os.scandir(real)):
            os.chmod(real, mode)
            raise UnsafePath(
                f"{out}: others may write into it (mode {mode:04o}) and it is not empty, so its "
                f"files cannot be trusted; 'chmod 700 {out}' after checking them, or choose "
                "another --out"
            )


def make_parents(folder: Path) -> None:
    """`folder` and the folders above it that are missing, each made 0755 less the umask: never
    writable by others, even under umask 000 (mkdir -p would make them 0777 there)."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        try:
            each.mkdir(mode=0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise failure(each, "make the folder", exc) from None


def check_ours(out: Path, known: Iterable[str], adopt: bool = False) -> None:
    """Refuse to write into an existing folder that holds files and is not one of ours: no
    .kpki/, no commands.sh and none of `known` (the plan's paths; for `sub/admin.crt`, `sub`)
    in it. `adopt` (run --adopt-folder): the user says it is the one."""
    if adopt:
        return
    try:
        found = os.listdir(out)
    except OSError:  # missing (run makes it), or not a folder: said elsewhere
        return
    ours = {META_DIR, LOG_NAME, *(p.split("/", 1)[0] for p in known)}  # `sub` of sub/admin.crt
    if not found or not ours.isdisjoint(found):
        return
    raise InputError(
        f"--out: {str(out)!r} already holds files and is not a kpki-openssl folder (no "
        f"{META_DIR}/, none of the files the plan makes); choose a new or empty folder, or "
        "add --adopt-folder to write into it"
    )


# ----- bookkeeping paths: never followed when they are links -----


def own_dir(path: Path, mode: int | None = 0o700) -> Path:
    """A folder of ours at `path` (made when missing): refused when it is a link, not a folder,
    or of another user; then made `mode` (None: left as it is)."""
    try:
        os.mkdir(path, 0o700 if mode is None else mode)
    except FileExistsError:
        pass
    except OSError as exc:
        raise failure(path, "make the folder", exc) from None
    st = _lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise _link_refused(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path}: should be a folder; remove or rename it, then run again")
    if st.st_uid != os.geteuid():
        raise UnsafePath(f"{path}: belongs to user id {st.st_uid}, not to you; remove it first")
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)  # not a link: checked just above
    return path


def _link_refused(path: Path) -> UnsafePath:
    return UnsafePath(
        f"{path}: is a symbolic link; kpki-openssl never follows links in its own "
        "bookkeeping (remove it, then run again)"
    )


def check_no_link(path: Path) -> None:
    """Refuse a bookkeeping path that exists as anything but a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise _link_refused(path)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{path}: should be a regular file; remove or rename it, then run again")


def open_file(path: Path, flags: int, mode: int = 0o600) -> int:
    """os.open that never follows a link at `path` and accepts only a regular file of ours."""
    try:
        # O_NONBLOCK: a FIFO planted at the path is refused below, never waited on
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            check_no_link(path)  # raises, naming the link
        if exc.errno in (errno.ENXIO, errno.EISDIR, errno.ENOTDIR):
            raise UnsafePath(f"{path}: should be a regular file") from None
        raise failure(path, "open", exc) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink > 1:
        os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            what = "is not a regular file"
        elif st.st_nlink > 1:
            what = "has other names (a hard link): writing it would change them too"
        else:
            what = f"belongs to user id {st.st_uid}, not to you"
        raise UnsafePath(f"{path}: {what}; remove it, then run again")
    return fd


def read_bookkeeping(path: Path, limit: int = 64 << 20) -> bytes | None:
    """A bookkeeping file's bytes (None when missing), never through a link; a FIFO or a
    device is refused rather than blocking on it."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            check_no_link(path)
        raise failure(path, "read", exc) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{path}: should be a regular file; remove it, then run again")
        data = read_at_most(fd, limit)
        if data is None:
            raise UnsafePath(f"{path}: larger than {limit >> 20} MiB; not read")
        return data
    finally:
        os.close(fd)


MAX_READ = 1 << 20  # a certificate, key or kubeconfig is a few KB; none is a megabyte


def read_regular(
    path: Path | str,
    cwd: Path | None = None,
    limit: int = MAX_READ,
    what: str = "a certificate or key",
) -> bytes:
    """The bytes of a regular file (links followed: a folder may link its files), the one
    reader of a file the user or the folder names. Opened without blocking, so a FIFO or a
    device named like a certificate is refused instead of hanging the reader; a directory
    too; a file larger than `limit` (a 2 GB sparse key) is refused before a byte is read.
    Every refusal is one line naming `path`."""
    full = Path(cwd) / path if cwd is not None else Path(path)
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | _CLOEXEC)
    except OSError as exc:
        raise KpkiError(messages.one_line(f"{path}: cannot open: {exc.strerror}")) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KpkiError(
                messages.one_line(f"{path}: {file_kind(st.st_mode)}, not a regular file")
            )
        data = read_at_most(fd, limit) if st.st_size <= limit else None
        if data is None:
            raise KpkiError(messages.one_line(f"{path}: larger than {limit} bytes, not {what}"))
        return data
    except OSError as exc:
        raise KpkiError(messages.one_line(f"{path}: cannot read: {exc.strerror}")) from None
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words (a FIFO, a directory, ...)."""
    for test, word in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return word
    return "not a regular file"


def read_at_most(fd: int, limit: int) -> bytes | None:
    """Every byte of an open file, or None when it holds more than `limit` (a file we read
    whole is small; a huge one is refused before it is all in memory)."""
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


# ----- whole writes -----


def write_all(fd: int, data: bytes) -> None:
    """Every byte of `data` to `fd` (os.write can write short on a full disk); OSError ENOSPC
    when it writes nothing."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def append_whole(path: Path, data: bytes, header: bytes = b"") -> None:
    """Append `data` to the log at `path` with nothing half-written: the bytes go in whole, or
    the file is cut back to its old size and the failure named (os.write can write short on a
    full disk). `header` is written first when the file is empty."""
    fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        blob = (header if size == 0 else b"") + data
        try:
            write_all(fd, blob)
        except OSError as exc:
            with suppress(OSError):
                os.ftruncate(fd, size)
            raise failure(path, "append to the log", exc) from None
    finally:
        os.close(fd)


def write_file(path: Path, content: str | bytes, mode: int, parent_exists: bool = False) -> None:
    """A whole file under a temporary name in the same folder, fsync'ed, then renamed over
    `path` (a link at `path` is replaced, never followed); the temporary file is removed on any
    failure, which names `path`."""
    if not parent_exists:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise failure(path.parent, "make the folder", exc) from None
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    except FileExistsError:
        check_no_link(tmp)
        os.unlink(tmp)  # our own leftover (same pid): a killed earlier call
        return write_file(path, content, mode, parent_exists=True)
    except OSError as exc:
        raise failure(path, "write", exc) from None
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        sync_folder(path.parent)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        raise failure(path, "write", exc) from None
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_new(path: Path, content: str | bytes, mode: int) -> None:
    """Write a whole file in a folder of ours, replacing what is at `path` (a link is replaced,
    never followed), without syncing it: the caller syncs it (`sync_together`) before anything
    relies on it being on disk. On a failure, which names `path`, nothing is left there."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    try:
        try:
            fd = os.open(path, flags, mode)
        except FileExistsError:
            os.unlink(path)
            fd = os.open(path, flags, mode)
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(path)
        raise failure(path, "write", exc) from None


def overwrite(path: Path, content: str | bytes) -> None:
    """Write a whole file over an existing file of ours, keeping it (the same inode, so an entry
    already synced stays on disk), without syncing it: the caller syncs it. A link at `path` is
    refused, never followed; a failure names `path`."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | _NOFOLLOW | _CLOEXEC)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise failure(path, "write", exc) from None


_SYNC_THREADS = 8
_sync_pool = None


def sync_together(files: Sequence[Path], folders: Sequence[Path] = ()) -> None:
    """fsync every file and folder, all at once from a few threads (the file system then commits
    them together: on ext4, one journal commit rather than one after another); returns when
    each is on disk. A file that cannot be synced is named; a folder that cannot be is passed
    over (some file systems cannot sync one)."""
    if len(files) + len(folders) <= 1:
        for path in files:
            _fsync_path(path)
        for folder in folders:
            sync_folder(folder)
        return
    global _sync_pool
    if _sync_pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _sync_pool = ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="kpki-sync")
    done = [_sync_pool.submit(_fsync_path, path) for path in files]
    done += [_sync_pool.submit(sync_folder, folder) for folder in folders]
    for future in done:
        future.result()  # the first failure, in the order given


def _fsync_path(path: Path) -> None:
    """The file's data on disk (before it is renamed in, so a crash cannot leave it empty)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise failure(path, "sync", exc) from None


def sync_folder(folder: Path) -> None:
    """The folder's entries (a rename) on disk."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself already happened
    finally:
        os.close(fd)


def with_disk_note(stderr: str, folder: Path, below: int = 64 << 10) -> str:
    """A failed command's output, with a line added when the disk it wrote to is (nearly)
    full: openssl then often exits 0 leaving an empty file, and the next command fails
    reading it, saying nothing of the disk."""
    try:
        vfs = os.statvfs(folder)
    except OSError:
        return stderr
    free = vfs.f_bavail * vfs.f_frsize
    if free >= below:
        return stderr
    return (
        stderr.rstrip("\n")
        + f"\n(the disk holding {folder} has {free} bytes free: an earlier command's file may "
        "be empty; make room and run again)\n"
    )


def safe_parent(out: Path, rel: str) -> None:
    """The sub-folders of `rel` under `out` (made when missing), none of them a link: a planted
    `out/sub -> /etc` would otherwise receive the files."""
    parts = rel.split("/")[:-1]
    here = out
    for part in parts:
        here = here / part
        own_dir(here, None)


def _lstat(path: Path) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as exc:
        raise failure(path, "inspect", exc) from None


def set_modes(stage: Path, made: list[tuple[str, int]]) -> None:
    """Give each staged file its mode (before it is synced and renamed in)."""
    for path, mode in made:
        try:
            os.chmod(stage / path, mode)
        except OSError as exc:
            raise failure(stage / path, "sync", exc) from None


def rename_into(stage: Path, out: Path, made: list[tuple[str, int]]) -> set[Path]:
    """Rename synced files from `stage` into `out` in order (keys before certificates), their
    parents never links. Returns the folders whose entries changed: the caller syncs them
    (`sync_together`) before it records the files as there."""
    folders: set[Path] = set()
    for path, _mode in made:
        if "/" in path:
            safe_parent(out, path)
        try:
            os.replace(stage / path, out / path)
        except OSError as exc:
            raise failure(out / path, "install", exc) from None
        folders.add((out / path).parent)
    return folders


def read_state(path: Path) -> dict[str, dict]:
    """The steps of a JSON bookkeeping record ({"steps": {NAME: {...}}}): a missing or
    malformed file, or a malformed entry, counts as nothing recorded, never a traceback (the
    record only makes change reports say more). A link or a non-file is refused."""
    data = read_json(path)
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, dict):
        return {}
    return {str(k): v for k, v in steps.items() if isinstance(v, dict)}


def read_json(path: Path) -> object:
    """A JSON file's data, or None when it is missing or not JSON; never through a link."""
    import json

    raw = read_bookkeeping(path)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
