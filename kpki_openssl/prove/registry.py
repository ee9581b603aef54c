"""prove's groups of checks, each written once: its name, its one-line help and the module that
runs it. The command line builds `--only` from this list, and prover runs the groups in this
order, so their checks are printed in it too.

This module imports nothing heavy: the command line reads it to build its parser, and a group's
module is imported only when the group runs. Adding a program to prove is one module with a
`run(context)` function (see prove/context.py for what it is given) and one row here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kpki_openssl.base.errors import InputError

if TYPE_CHECKING:
    from kpki_openssl.prove.context import Context


@dataclass(frozen=True)
class Group:
    """One group of checks: `--only NAME` runs it; `module` holds its `run(context)`."""

    name: str
    help: str
    module: str
    after_servers: bool = False  # runs once the others are done and their servers stopped
    opt_in: bool = False  # runs only when named with --only (a plain `prove` leaves it out)
    server: str = ""  # what answers its clients, and what that is not (a group may refine it)
    entry: str = "run"  # the module's function that runs the group (two groups, one module)

    def runner(self) -> Callable[[Context], None]:
        """The group's `run(context)`, its module imported now."""
        return getattr(importlib.import_module(self.module), self.entry)


GROUPS: tuple[Group, ...] = (
    Group(
        "files",
        "paths the folder's files name that are not in the folder, or flags they lack",
        "kpki_openssl.prove.files",
        after_servers=True,  # it reports what the other groups found while mapping paths
        server="no server, no program: kpki-openssl reports the paths the other groups met",
    ),
    Group(
        "etcd",
        "etcd members from the etcd flags files; etcdctl with the API server's etcd client files",
        "kpki_openssl.prove.etcd",
        server="a real etcd started from the folder's etcd flags files, and a real etcdctl",
    ),
    Group(
        "apiserver",
        "an openssl s_server with the API server's certificate; kubectl with each kubeconfig, "
        "and the document's curl call",
        "kpki_openssl.prove.apiserver",
        server="openssl s_server presenting the API server's certificate, answering a fixed "
        "PodList: TLS only, no kube-apiserver, no RBAC",
    ),
    Group(
        "kubelet",
        "an openssl s_server with each kubelet's serving certificate; kubectl with the API "
        "server's kubelet client files",
        "kpki_openssl.prove.kubelet",
        server="openssl s_server presenting each kubelet's serving certificate, answering a "
        "fixed ok at /healthz: TLS only, no kubelet, no authorization",
    ),
    Group(
        "hostile-csr",
        "a node's CSR asking for CA:TRUE, signed the Hard Way and by the recipe's command, "
        "against etcd trusting the cluster CA; sign refuses it",
        "kpki_openssl.prove.hostile_csr",
        server="a real etcd trusting the cluster CA stands in for kube-apiserver's client "
        "certificate check (no kube-apiserver), with real openssl and etcdctl",
    ),
    Group(
        "rotation",
        "opt-in: the etcd CA rotated trust -> switch -> remove on a scratch copy, a 3-member "
        "etcd restarted member by member after each stage; kubectl, etcdctl and curl with the "
        "old, bundle and new CA at each stage",
        "kpki_openssl.prove.rotation",
        server="a real 3-member etcd on a scratch copy, also the TLS endpoint kubectl and curl "
        "dial (no kube-apiserver)",
        opt_in=True,  # ~15 s of etcd restarts: only `prove --only rotation` runs it
    ),
    Group(
        "rotation-ca",
        "opt-in: the cluster CA (kube-apiserver's --client-ca-file) rotated trust -> switch -> "
        "remove on a scratch copy; kubectl with every kubeconfig as each stage wrote it, and "
        "with the API server's kubelet client against each kubelet's side; kept old-CA files "
        "refused where they must be",
        "kpki_openssl.prove.rotation_ca",
        server="a real etcd standing in for kube-apiserver's TLS endpoint, started again from "
        "the copy's kube-apiserver flags after each stage, and one for each kubelet's HTTPS "
        "port from its KubeletConfiguration (no kube-apiserver, no kubelet)",
        opt_in=True,
    ),
    Group(
        "rotation-front-proxy",
        "opt-in: the front-proxy CA (kube-apiserver's --requestheader-client-ca-file) rotated "
        "trust -> switch -> remove on a scratch copy; curl with the front-proxy client files "
        "as each stage left them, the old one refused after remove",
        "kpki_openssl.prove.rotation_ca",
        server="a real etcd trusting the copy's --requestheader-client-ca-file, standing in for "
        "kube-apiserver's requestheader check (no kube-apiserver, no aggregated API server)",
        opt_in=True,
        entry="run_front_proxy",
    ),
)

NAMES: tuple[str, ...] = tuple(g.name for g in GROUPS)
DEFAULT: tuple[str, ...] = tuple(g.name for g in GROUPS if not g.opt_in)  # a plain `prove`


def chosen(names: Iterable[str] = NAMES) -> tuple[Group, ...]:
    """The groups named, in the registry's order (the order of the arguments does not matter)."""
    wanted = set(names)
    unknown = wanted - set(NAMES)
    if unknown:
        raise InputError(
            f"--only: no prove group {', '.join(sorted(unknown))} (groups: {', '.join(NAMES)})"
        )
    return tuple(g for g in GROUPS if g.name in wanted)
