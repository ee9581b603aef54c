"""`prove`: the real consumers, on loopback, against an output folder.

lint and verify say what *should* happen; prove runs the programs and reports what they did, in
their own words when they refuse. Each group of checks (prove/registry.py) is one module: etcd
and etcdctl (etcd.py), kubectl and curl against an openssl s_server standing in for the API
server (apiserver.py), kubectl against each kubelet's certificate (kubelet.py), and what the
folder's files name but the folder lacks (files.py). Negative checks show least privilege: a
certificate from another CA is refused, and where etcd has its own CA, so is a kubelet's.

This module runs the chosen groups in the registry's order over one shared Context: servers
run on free 127.0.0.1 ports in the scratch folder, and however the run ends (Ctrl-C included)
every server is stopped and the scratch folder removed before prove returns or raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kpki_openssl.plan.steps import Plan
from kpki_openssl.prove.context import Context
from kpki_openssl.prove.registry import DEFAULT, Group, chosen
from kpki_openssl.prove.results import ProveResult
from kpki_openssl.prove.scratch import Scratch


def prove(plan: Plan, out: Path, groups: Iterable[str] = DEFAULT) -> ProveResult:
    """Run the named groups' checks against the folder, in the registry's order (by default
    every group but the opt-in ones)."""
    selected = chosen(groups)
    scratch = Scratch()
    try:
        context = Context(plan, out, scratch)
        for group in selected:
            if not group.after_servers:
                _run(context, group)
    finally:
        scratch.close()
    for group in selected:
        if group.after_servers:
            _run(context, group)
    order = {g.name: i for i, g in enumerate(selected)}
    checks = sorted(context.checks, key=lambda c: order[c.group])  # stable: each group's order
    described = [
        (g.name, context.server.get(g.name, g.server), context.not_run.get(g.name, ""))
        for g in selected
    ]
    return ProveResult(plan.recipe, str(out), checks, described)


def _run(context: Context, group: Group) -> None:
    """One group's checks; each carries the group's name."""
    context.group = group.name
    group.runner()(context)
