"""kubectl as prove's client: Go's TLS client, as the API server's own is.

A kubeconfig names files where they will be on the hosts; kubectl is given a copy in the scratch
folder whose paths name the folder's files (a relative name resolves from the kubeconfig's own
folder), or a copy whose every user presents another client certificate. Each call is
`kubectl get --raw PATH` against an s_server on 127.0.0.1, with --tls-server-name the name a
client would dial, or `kubectl config view` when there is no server to dial. The groups build
the rest of each command line (apiserver.py, kubelet.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from kpki_openssl.prove.context import Context
from kpki_openssl.prove.folder import Folder
from kpki_openssl.prove.results import ACCEPT, FAIL, NOT_BUILT, Check, words
from kpki_openssl.prove.scratch import LOOPBACK

_PATHS = (
    ("clusters", "cluster", ("certificate-authority",)),
    ("users", "user", ("client-certificate", "client-key")),
)


def server(port: int, name: str) -> tuple[str, ...]:
    """kubectl's options to dial the s_server on 127.0.0.1:port as if dialling `name` (the
    name the certificate must carry; none when name is '')."""
    return (
        f"--server=https://{LOOPBACK}:{port}",
        *((f"--tls-server-name={name}",) if name else ()),
    )


def get_raw(
    context: Context,
    check: Check,
    argv: tuple[str, ...],
    answered: Callable[[str], bool],
    answer: str,
) -> None:
    """Run `kubectl ... get --raw PATH` (argv) and judge `check`: accepted when kubectl exits 0
    and its output is `answered`, which `said` then shows as `answer`; else kubectl's words."""
    code, stdout, stderr = context.run(check, argv, cwd=context.scratch.home)
    ok = code == 0 and answered(stdout)
    check.judge(ok, answer if ok else words(stderr or stdout))


def view(context: Context, label: str, path: Path) -> None:
    """`kubectl config view`: does kubectl load the file at all (no server needed)?"""
    what = f"kubectl config view --kubeconfig {label} (no API server to dial)"
    check = context.check(what, "kubectl", ACCEPT)
    if not path.is_file():
        absent(context, check, label)
        return
    kubectl = context.program(check, "kubectl")
    if kubectl is None:
        return
    argv = (kubectl, "config", "view", "-o", "json", f"--kubeconfig={path}")
    code, stdout, stderr = context.run(check, argv, cwd=context.scratch.home)
    check.judge(code == 0, "loaded" if code == 0 else words(stderr or stdout))


def absent(context: Context, check: Check, label: str) -> None:
    """A kubeconfig not in the folder: not yet built when a step of the plan makes it (not a
    failure), else a failure; either way the tool's words, kubectl never having run."""
    later = context.later(label)
    if later:
        check.tool(NOT_BUILT, f"{label} {later}")
    else:
        check.tool(FAIL, f"{label} is not in the folder (no step of the plan makes it)")


def mapped(context: Context, path: Path, label: str, folder: Folder | None = None) -> Path:
    """A copy whose file paths name the folder's files (`folder`: another folder's, such as a
    scratch copy's); the file itself when it does not parse as YAML (kubectl then says what is
    wrong with it) or names no files."""
    folder = folder or context.folder
    data = _load(path)
    if not isinstance(data, dict):
        return path
    changed = False
    for section, item, keys in _PATHS:
        for entry in data.get(section) or ():
            body = entry.get(item) if isinstance(entry, dict) else None
            for key in keys if isinstance(body, dict) else ():
                if isinstance(body.get(key), str):
                    found = _file(folder, path, body[key], f"{label} {key}")
                    if found is not None:
                        body[key] = str(found)
                        changed = True
    return _write(context, label, data) if changed else path


def with_client(context: Context, path: Path, label: str, client: tuple[Path, Path]) -> Path | None:
    """A copy of the kubeconfig whose every user presents `client` (cert, key) instead, as
    files (an embedded certificate would win over a --client-certificate flag); None when it
    does not parse or has no user to replace."""
    data = _load(path)
    if not isinstance(data, dict) or not data.get("users"):
        return None
    for entry in data["users"]:
        if isinstance(entry, dict):
            entry["user"] = {"client-certificate": str(client[0]), "client-key": str(client[1])}
    return _write(context, "foreign-" + label, data)


def _load(path: Path) -> object:
    """A folder's kubeconfig, through the alias guard and bounded (None: not such YAML)."""
    from kpki_openssl.base import safeyaml
    from kpki_openssl.base.errors import KpkiError

    try:
        return safeyaml.load_file(path)
    except KpkiError:
        return None


def _write(context: Context, label: str, data: dict) -> Path:
    import yaml

    copy = context.scratch.root / "kubeconfigs" / label.replace("/", "_")
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(yaml.safe_dump(data))
    copy.chmod(0o600)
    return copy


def _file(folder: Folder, kubeconfig: Path, value: str, where: str) -> Path | None:
    """A kubeconfig's file: a relative name resolves from the kubeconfig's folder."""
    if not value.startswith("/"):
        full = (kubeconfig.parent / value).resolve()
        with suppress(ValueError):
            value = full.relative_to(folder.root).as_posix()
    return folder.find(value, where)
