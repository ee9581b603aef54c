"""Which file goes to which host, at which path and mode. Pure: worked out from the plan alone.

A component file row says which hosts it goes to (`hosts:`) and the folder it goes to there
(`host_dir:`). Everything else follows from what the files name: every value of a flags file or
config that is a host path of a file the plan makes (/var/lib/kubernetes/ca.crt) sends that file
to that path on the same hosts, and a kubeconfig sent there brings the files it names (beside it,
or where its path form says). So a host gets exactly what its programs read, and no more: a
node, which runs no controller manager, never receives ca.key or sa.key.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.certlist import KeyPairSpec
from kpki_openssl.plan.steps import PRIVATE_MODE, PUBLIC_MODE, Plan


@dataclass(frozen=True)
class HostFile:
    """One file of the output folder, placed on one host."""

    source: str  # relative to the output folder, e.g. ca.crt
    path: str  # absolute on the host, e.g. /var/lib/kubernetes/ca.crt
    mode: int
    named_by: str  # the component file (or kubeconfig) that names it, or the file itself


@dataclass(frozen=True)
class Host:
    name: str
    programs: tuple[str, ...]
    files: tuple[HostFile, ...]


@dataclass(frozen=True)
class Layout:
    hosts: tuple[Host, ...]
    unplaced: tuple[str, ...]  # files of the plan no host receives (they stay with you)

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise InputError(f"--host: {name!r} is not a host of this plan (hosts: {known})")


def _made(plan: Plan) -> tuple[dict[str, int], set[str]]:
    """Every file a host may receive, with its mode; and which are private keys."""
    modes: dict[str, int] = {}
    keys: set[str] = set()
    for cert in plan.certs:
        modes[cert.cert_file] = PUBLIC_MODE
        modes[cert.key_file] = PRIVATE_MODE
        keys.add(cert.key_file)
    for spec in plan.keypairs:
        if isinstance(spec, KeyPairSpec):
            modes[spec.key_file] = PRIVATE_MODE
            modes[spec.pub_file] = PRIVATE_MODE if spec.private_pub else PUBLIC_MODE
            keys.add(spec.key_file)
    for config in plan.kubeconfigs:
        modes[config.file] = PRIVATE_MODE  # an embedded one holds a key
    for component in plan.components:
        modes[component.file] = PUBLIC_MODE
    return modes, keys


def host_path(path: str, named_by: str) -> str:
    """`path` normalised ('.', '//' and 'dir/..' gone), or refused when it is not absolute or
    climbs above '/': the install script puts each file at ROOT/PATH, and '..' there would
    leave ROOT."""
    if not path.startswith("/"):
        raise InputError(f"hosts: {named_by}: host path {path!r} is not absolute")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InputError(
                    f"hosts: {named_by}: host path {path!r} climbs above / ('..'): it would "
                    "leave the root the install script is given"
                )
            parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _source_for(path: str, by_base: dict[str, list[str]]) -> str | None:
    """The plan file a host path names: the longest one whose path is a tail of it
    (/etc/kubernetes/pki/etcd/ca.crt is pki/etcd/ca.crt, not pki/ca.crt)."""
    best = None
    for source in by_base.get(posixpath.basename(path), ()):
        if path.endswith("/" + source) and (best is None or len(source) > len(best)):
            best = source
    return best


def _lexical(path: str) -> str:
    """`path` with '.', '//' and 'dir/..' resolved as text (no file system), to find which
    file it names; whether it may be used at all is host_path's to say."""
    return posixpath.normpath("/" + path.lstrip("/")) if path.startswith("/") else path


def layout(plan: Plan) -> Layout:
    """Every host's files, in plan order; a host path given two different files is refused."""
    modes, _keys = _made(plan)
    by_base: dict[str, list[str]] = {}
    for source in modes:
        by_base.setdefault(posixpath.basename(source), []).append(source)
    kubeconfigs = {k.file: k for k in plan.kubeconfigs}
    placed: dict[str, dict[str, HostFile]] = {}
    programs: dict[str, list[str]] = {}

    def put(host: str, source: str, path: str, named_by: str) -> None:
        path = host_path(path, named_by)
        files = placed.setdefault(host, {})
        known = files.get(path)
        if known is not None:
            if known.source != source:
                raise InputError(
                    f"hosts: {host}:{path} would be both {known.source} ({known.named_by}) "
                    f"and {source} ({named_by})"
                )
            return
        files[path] = HostFile(source, path, modes[source], named_by)
        config = kubeconfigs.get(source)
        if config is not None and not config.embed:
            folder = posixpath.dirname(path)
            for file, named in (
                (config.ca_file, config.ca_path),
                (config.cert_file, config.cert_path),
                (config.key_file, config.key_path),
            ):
                target = named if named.startswith("/") else posixpath.join(folder, named)
                put(host, file, target, source)

    for component in plan.components:
        for host in component.hosts:
            names = programs.setdefault(host, [])
            if component.program not in names:
                names.append(component.program)
            put(
                host,
                component.file,
                posixpath.join(component.host_dir, component.file),
                component.file,
            )
            for value in component.strings:
                if not value.startswith("/"):
                    continue
                source = _source_for(_lexical(value), by_base)
                if source is not None:
                    put(host, source, value, component.file)
    hosts = tuple(
        Host(name, tuple(programs.get(name, ())), tuple(files.values()))
        for name, files in placed.items()
    )
    _no_signing_key_off_the_control_plane(plan, hosts)
    used = {f.source for h in hosts for f in h.files}
    return Layout(hosts, tuple(f for f in modes if f not in used))


SIGNERS = ("kube-apiserver", "kube-controller-manager")  # the programs that sign with a key


def _no_signing_key_off_the_control_plane(plan: Plan, hosts: tuple[Host, ...]) -> None:
    """A CA's private key or a bare key pair's (sa.key) goes only to a host that signs with it
    (the API server signs tokens, the controller manager certificates and tokens): a node
    holding one could mint any identity. A recipe that would send one elsewhere is refused."""
    ca_keys = {c.key_file for c in plan.certs if c.is_ca}
    signing = ca_keys | {spec.key_file for spec in plan.keypairs}
    for host in hosts:
        if set(host.programs) & set(SIGNERS):
            continue
        for file in host.files:
            if file.source in signing:
                what = "a CA's private key" if file.source in ca_keys else "a signing key"
                raise InputError(
                    f"hosts: {host.name} ({', '.join(host.programs)}) would receive "
                    f"{file.source}, {what} (named by {file.named_by}); only a host running "
                    f"{' or '.join(SIGNERS)} may hold it"
                )


# `put MODE FILE PATH`: FILE of the output folder to ROOT/PATH, after checking that ROOT/PATH,
# with every link in it followed, is still under ROOT (a link planted under a scratch ROOT
# must not carry a key elsewhere). PATH is normalised and never climbs above / (host_path).
_PUT = """\
root="${1:-/}"
root="${root%/}"
real_root="$(realpath -m -- "${root:-/}")"
real_root="${real_root%/}"
put() {
  local dest="$root$3" real
  real="$(realpath -m -- "$dest")"
  case "$real" in
    "$real_root"/*) ;;
    *) printf '%s\\n' "refusing $3: $dest leads to $real, outside ${real_root:-/}" >&2; exit 1 ;;
  esac
  install -D -m "$1" -- "$2" "$dest"
}
"""


def install_script(plan: Plan, host_name: str) -> str:
    """The commands that put one host's files in place, run from the output folder, under the
    root given as the first argument (default /), so it can be tried in a scratch folder;
    nothing is ever written outside that root."""
    from kpki_openssl.plan.shell_text import BASE_PROLOGUE, comment
    from kpki_openssl.plan.signing import waiting

    host = layout(plan).host(host_name)
    on_node = {step.spec.key_file for step in waiting(plan)}  # node_keys=on-node
    here = dict.fromkeys(f.source for f in host.files if f.source not in on_node)
    sources = " ".join(shlex.quote(f) for f in here)
    parts = [
        BASE_PROLOGUE,  # it runs no openssl: no trust-store setting
        comment(
            f"Puts the files of host {host.name} ({', '.join(host.programs)}) in place. Run it "
            "from the output folder, as root on the host: bash THIS_SCRIPT [ROOT]. ROOT "
            "(default /) is prefixed to every path, so it can be tried in a scratch folder "
            "first; a path that would lead outside ROOT (through a link) is refused."
        ),
        f"# kpki-openssl install script: recipe {plan.recipe}, host {host.name}\n",
        _PUT,
        "# Run from the PKI folder: every file must be here before anything is installed.\n",
        "missing=''\n",
        f'for f in {sources}; do [ -f "$f" ] || missing="$missing $f"; done\n',
        'if [ -n "$missing" ]; then\n'
        f"  echo {shlex.quote(f'install {host.name}: run this from the PKI folder; not here:')}"
        '"$missing" >&2\n'
        "  exit 1\n"
        "fi\n",
    ]
    for file in host.files:
        if file.source in on_node:  # made on the node (export --node): never in this folder
            parts.append(
                f"# {file.source} was made on this host by export --node; put it at "
                f"{file.path} (mode 0600) there\n"
            )
            continue
        argv = ["put", f"{file.mode:04o}", file.source, file.path]
        parts.append(" ".join(shlex.quote(a) for a in argv) + "\n")
    return "".join(parts)


def as_json(plan: Plan) -> dict:
    found = layout(plan)
    return {
        "recipe": plan.recipe,
        "hosts": [
            {
                "host": h.name,
                "programs": list(h.programs),
                "files": [
                    {
                        "file": f.source,
                        "path": f.path,
                        "mode": f"{f.mode:04o}",
                        "named_by": f.named_by,
                    }
                    for f in h.files
                ],
            }
            for h in found.hosts
        ],
        "stays_with_you": list(found.unplaced),
    }
