#!/usr/bin/python
"""kpki_install: an Ansible module, shipped beside the playbook `export --format ansible`
writes (library/), that puts one host's files in place in one call: each with its bytes,
owner, group and mode, written atomically, and only when one of those differs. With --check
it says what it would change and writes nothing. `absent` paths are deleted (a rotation's
remove retires the files its earlier stages put beside the recipe's). One call a host, not two
module runs a file (ansible.builtin.copy's stat and copy), so a fleet's install costs seconds,
not minutes.

The contents come as arguments (no_log: a key never reaches a log), read on the controller
by the playbook's `query('ansible.builtin.file', ...)`.
"""

from __future__ import annotations

import grp
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kpki_install
short_description: Put files in place with their owner, group and mode, atomically
options:
  files:
    description: "[{path: /abs/path, mode: '0644'}, ...]"
    type: list
    elements: dict
    default: []
  contents:
    description: Each file's text, in the order of files.
    type: list
    elements: str
    default: []
  absent:
    description: Paths deleted when they are there (a regular file or a link, never a folder).
    type: list
    elements: str
    default: []
  root:
    description: Prefixed to every path (try it in a scratch folder first).
    type: str
    default: ''
  owner:
    type: str
    default: root
  group:
    type: str
    default: root
"""


def _same(dest: str, data: bytes, mode: int, uid: int, gid: int) -> bool:
    """Whether dest is a regular file with these bytes, mode and owner."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return False
    if not os.path.isfile(dest) or os.path.islink(dest):
        return False
    if (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (mode, uid, gid):
        return False
    with open(dest, "rb") as f:
        return f.read(len(data) + 1) == data


def _write(dest: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    """dest with data, mode and owner, by a rename: a reader sees the old file or the new."""
    folder = os.path.dirname(dest)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kpki-")
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, dest)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        os.unlink(tmp)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "default": []},
            "contents": {"type": "list", "elements": "str", "default": [], "no_log": True},
            "absent": {"type": "list", "elements": "str", "default": []},
            "root": {"type": "str", "default": ""},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
        },
        supports_check_mode=True,
    )
    files, contents = module.params["files"], module.params["contents"]
    if len(files) != len(contents):
        module.fail_json(msg=f"{len(files)} files but {len(contents)} contents")
    uid = pwd.getpwnam(module.params["owner"]).pw_uid
    gid = grp.getgrnam(module.params["group"]).gr_gid
    root = module.params["root"].rstrip("/")
    changed = []
    for spec, text in zip(files, contents):
        path, mode = str(spec["path"]), int(str(spec["mode"]), 8)
        data = text.encode("utf-8")
        if _same(root + path, data, mode, uid, gid):
            continue
        changed.append(path)
        if not module.check_mode:
            try:
                _write(root + path, data, mode, uid, gid)
            except OSError as exc:
                module.fail_json(msg=f"{path}: {exc.strerror or exc}", changed_files=changed)
    removed = []
    for path in module.params["absent"]:
        dest = root + str(path)
        if not os.path.lexists(dest):
            continue
        if os.path.isdir(dest) and not os.path.islink(dest):
            module.fail_json(msg=f"{path}: a folder, not a file; left there", changed_files=changed)
        removed.append(str(path))
        if not module.check_mode:
            os.unlink(dest)
    module.exit_json(
        changed=bool(changed or removed),
        changed_files=changed + removed,
        removed_files=removed,
        files=len(files),
    )


if __name__ == "__main__":
    main()
