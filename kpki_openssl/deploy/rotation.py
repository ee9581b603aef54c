"""A rotation stage, host by host: which files change where, and the restarts, in order. Pure.

Restart order: etcd members one at a time (a majority stays up; etcd reads its trust files only
at start), then the API servers one at a time, the scheduler, the controller manager, the
kubelets (rolling), kube-proxy. Which of those programs reload a file without a restart is
taken from the Kubernetes reference, not measured here (no such binary on this machine).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from kpki_openssl.deploy import hosts as host_layout
from kpki_openssl.plan import rotation
from kpki_openssl.plan.steps import PRIVATE_MODE, PUBLIC_MODE, Plan


@dataclass(frozen=True)
class HostChange:
    """What one host receives in one stage, and the programs to restart there."""

    host: str
    files: tuple[tuple[str, str, int], ...]  # (source in the folder, path on the host, mode)
    restart: tuple[str, ...]


def _tail(path: str, old: str, new: str) -> str:
    if path.endswith("/" + old):
        return path[: -len(old)] + new
    return posixpath.join(posixpath.dirname(path), posixpath.basename(new))


def changes(full: Plan, stage: rotation.Stage) -> tuple[HostChange, ...]:
    """Per host (from `hosts`): the stage's files it holds, and which programs restart."""
    f = stage.files
    writes = {p for s in stage.plan.steps for p in s.writes}
    if isinstance(f, rotation.KeyFiles):
        return _key_changes(full, stage, f, writes)
    if stage.stage == "remove":
        writes |= {f.ca.cert_file, f.ca.key_file}
    program_of = {c.file: c.program for c in full.components}
    signer = rotation.needs_signer(full, f)
    out = []
    for host in host_layout.layout(full).hosts:
        named_by = {hf.source: hf.named_by for hf in host.files}
        got: dict[str, tuple[str, str, int]] = {}
        restart: set[str] = set()

        def add(
            source: str,
            path: str,
            mode: int,
            by: str,
            got: dict[str, tuple[str, str, int]] = got,
            named_by: dict[str, str] = named_by,
            restart: set[str] = restart,
        ) -> None:
            got[path] = (source, path, mode)
            while by in named_by and named_by[by] != by:
                by = named_by[by]  # a kubeconfig's file is named by the component that reads it
            if by in program_of:
                restart.add(program_of[by])

        for hf in host.files:
            if hf.source in writes:
                add(hf.source, hf.path, hf.mode, hf.named_by)
            if stage.stage == "remove":
                continue
            if hf.source == f.ca.cert_file:
                if stage.stage == "trust":
                    path = _tail(hf.path, f.ca.cert_file, f.bundle)
                    add(f.bundle, path, PUBLIC_MODE, hf.named_by)
                if signer and "kube-controller-manager" in host.programs:
                    path = _tail(hf.path, f.ca.cert_file, f.signer)
                    add(f.signer, path, PUBLIC_MODE, hf.named_by)
            if (
                hf.source == f.ca.key_file
                and stage.stage == "switch"
                and "kube-controller-manager" in host.programs
            ):
                path = _tail(hf.path, f.ca.key_file, f.new.key_file)
                add(f.new.key_file, path, PRIVATE_MODE, hf.named_by)
        if got:
            order = tuple(p for p in rotation.RESTART_ORDER if p in restart)
            out.append(HostChange(host.name, tuple(got.values()), order))
    return tuple(out)


def _key_changes(
    full: Plan, stage: rotation.Stage, f: rotation.KeyFiles, writes: set[str]
) -> tuple[HostChange, ...]:
    """A key pair's stage per host: the flags files it rewrites, and (trust) the new pair
    beside the old on every host that holds the old."""
    program_of = {c.file: c.program for c in full.components}
    pair_of = {f.pair.key_file: f.new.key_file, f.pair.pub_file: f.new.pub_file}
    if stage.stage == "remove":  # the recipe's names hold the new pair, swapped here or before
        writes |= {f.pair.key_file, f.pair.pub_file}
    out = []
    for host in host_layout.layout(full).hosts:
        got: dict[str, tuple[str, str, int]] = {}
        restart: set[str] = set()
        for hf in host.files:
            if hf.source in writes:
                got[hf.path] = (hf.source, hf.path, hf.mode)
                if hf.source in program_of:
                    restart.add(program_of[hf.source])
            if stage.stage == "trust" and hf.source in pair_of:
                new = pair_of[hf.source]
                path = _tail(hf.path, hf.source, new)
                got[path] = (new, path, hf.mode)
        if got:
            order = tuple(p for p in rotation.RESTART_ORDER if p in restart)
            out.append(HostChange(host.name, tuple(got.values()), order))
    return tuple(out)


def retired(full: Plan, stage: rotation.Stage) -> dict[str, tuple[str, ...]]:
    """At remove, per host: the paths trust and switch put there that no file names once the
    new CA (or key pair) holds the recipe's names: the bundle, the signer's copy, the new key
    beside the old. Nothing the host's map (`hosts`) places is ever among them. {} for trust
    and switch, which retire nothing."""
    if stage.stage != "remove":
        return {}
    names = set(stage.files.names)
    found: dict[str, dict[str, None]] = {}
    for earlier in ("trust", "switch"):
        for change in changes(full, rotation.stage_plan(full, stage.ca, earlier)):
            for source, path, _mode in change.files:
                if source in names:
                    found.setdefault(change.host, {})[path] = None
    out = {}
    for host in host_layout.layout(full).hosts:
        placed = {f.path for f in host.files}
        paths = tuple(p for p in found.get(host.name, ()) if p not in placed)
        if paths:
            out[host.name] = paths
    return out


def restart_lines(found: tuple[HostChange, ...]) -> list[str]:
    """The restarts across the cluster, in order, as the commands a person runs."""
    lines = []
    step = 0
    for program in rotation.RESTART_ORDER:
        for change in found:
            if program not in change.restart:
                continue
            step += 1
            check = _CHECK.get(program, "")
            lines.append(
                f"{step:>2}. on {change.host}: systemctl restart {program}"
                + (f"; then {check}" if check else "")
            )
    return lines


_CHECK = {
    "etcd": "etcdctl endpoint health on it before the next member (a majority must stay up)",
    "kube-apiserver": "curl its /readyz before the next one",
    "kubelet": "kubectl get node NODE shows Ready before the next node",
}


def install_script(full: Plan, stage: rotation.Stage, host: str) -> str:
    """The commands that put one host's files of this stage in place (bash FILE [ROOT])."""
    from kpki_openssl.plan.shell_text import SCRIPT_PROLOGUE, comment

    host_layout.layout(full).host(host)  # an unknown host is refused, naming the known ones
    mine = [c for c in changes(full, stage) if c.host == host]
    parts = [
        SCRIPT_PROLOGUE,
        comment(
            f"rotate-ca {stage.ca} --stage {stage.stage}: the files of host {host} that this "
            "stage changes. Run it from the output folder, as root on the host: bash "
            "THIS_SCRIPT [ROOT]; then restart in the order `rotate-ca` prints."
        ),
        host_layout._PUT,
    ]
    for change in mine:
        for source, path, mode in change.files:
            parts.append(shlex.join(["put", f"{mode:04o}", source, path]) + "\n")
        for program in change.restart:
            parts.append(f"# then, in the cluster's order: systemctl restart {program}\n")
    gone = retired(full, stage).get(host, ())
    if gone:
        parts.append("# once the restarts are done, no file names these any more:\n")
        parts += [f"#   rm -f -- {shlex.quote(path)}\n" for path in gone]
    if not mine and not gone:
        parts.append(f"# host {host}: this stage changes none of its files\n")
    return "".join(parts)
