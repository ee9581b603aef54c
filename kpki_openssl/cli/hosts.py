"""`hosts [--json]`: which file of the output folder goes to which host, its path and mode."""

from __future__ import annotations

import argparse
import json
import sys

from kpki_openssl.cli.common import add_recipe_options, load_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "For each host the recipe's component files go to (the control plane, each "
        "etcd member, each node): every file it needs, the path it goes to there and its mode. "
        "Files no host needs (admin's, the etcd and front-proxy CA keys) stay with you. "
        "`export --host HOST` writes the commands that put one host's files in place."
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.deploy import hosts

    plan = load_plan(args)
    if args.json:
        sys.stdout.write(json.dumps(hosts.as_json(plan), indent=1) + "\n")
        return 0
    found = hosts.layout(plan)
    if not found.hosts:
        sys.stdout.write(
            f"recipe {plan.recipe}: no component file names its hosts (hosts: in the "
            "components table), so no file is placed\n"
        )
        return 0
    out = []
    for host in found.hosts:
        out.append(f"host {host.name} ({', '.join(host.programs)}): {len(host.files)} files")
        width = max(len(f.path) for f in host.files)
        for f in host.files:
            out.append(f"  {f.mode:04o}  {f.path:<{width}}  <- {f.source}  (named by {f.named_by})")
    if found.unplaced:
        out.append(f"stays with you (no host needs it): {', '.join(found.unplaced)}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0
