"""Paths inside the files, mapped to the output folder's files.

The flags, configs and kubeconfigs name files where they will be on the hosts
(/var/lib/kubernetes/ca.crt); prove needs the folder's file. A path maps to the file whose
folder-relative name is the longest tail of it (/etc/kubernetes/pki/etcd/ca.crt is
pki/etcd/ca.crt, not pki/ca.crt). A near miss — ca.pem or apiserver.cr where the folder has
ca.crt and apiserver.crt — maps to that file, and the miss is noted for the `files` group.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kpki_openssl.recipe.file_clashes import META_DIR


def match(value: str, files: Iterable[str]) -> tuple[str | None, bool]:
    """(the file of `files` that `value` names, whether only as a near miss); (None, False).

    `files` are folder-relative names. A near miss is a file with the same stem and the suffix
    the value's suffix stands for (.key for .key, .crt for anything else)."""
    value = value.strip().strip('"')
    files = list(files)
    tails = [f for f in files if value == f or value.endswith("/" + f)]
    if tails:
        return max(tails, key=len), False
    stem, _dot, suffix = value.rsplit("/", 1)[-1].partition(".")
    want = stem + (".key" if suffix == "key" else ".crt")
    near = [f for f in files if f.rsplit("/", 1)[-1] == want]
    return (near[0], True) if near else (None, False)


class Folder:
    """The output folder's files; every path mapped to them, and every miss noted."""

    def __init__(self, root: Path) -> None:
        self.root = root = root.resolve()
        # the tool's own records (.kpki/) are never a file a path names
        self.files = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and META_DIR not in p.relative_to(root).parts
        )
        self.notes: list[tuple[str, str]] = []  # (where, problem) for the files group

    def find(self, value: str, where: str) -> Path | None:
        """The folder's file a path names; a near miss (ca.pem for ca.crt, apiserver.cr) is
        used in its place and noted; None, noted, when nothing fits. `where` says which file
        and field the path came from."""
        found, near = match(value, self.files)
        shown = value.strip().strip('"')
        if found is None:
            self.notes.append((where, f"names {shown}, which is not in the folder"))
            return None
        if near:
            self.notes.append((where, f"names {shown}, which is not in the folder; {found} used"))
        return self.root / found

    def note(self, where: str, problem: str) -> None:
        """A problem with a file that is not a path (a flag it lacks), for the files group."""
        self.notes.append((where, problem))

    def relative(self, path: Path) -> str:
        """A folder file's folder-relative name."""
        return path.relative_to(self.root).as_posix()


def parse_flags(text: str) -> dict[str, str]:
    """--flag=value lines of a flags file's text (comments, blank lines and the rest dropped;
    a bare --flag is "true")."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("--"):
            name, _eq, value = line.partition("=")
            out[name] = value or "true"
    return out


def read_flags(path: Path) -> dict[str, str]:
    """The --flag=value lines of a flags file in the folder."""
    return parse_flags(path.read_text(errors="replace"))
