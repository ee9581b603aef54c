"""`list`: the plan's steps in order, with what each makes."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import add_recipe_options, load_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="the steps as JSON (reads, writes, signer)"
    )
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base import console
    from kpki_openssl.plan.steps import CertStep

    plan = load_plan(args)
    if args.json:
        import json
        import sys

        from kpki_openssl.plan.plan_json import plan_json

        sys.stdout.write(json.dumps(plan_json(plan), indent=2) + "\n")
        return 0
    rows = [
        (
            step.name,
            step.title,
            step.signer.name if isinstance(step, CertStep) and step.signer else "-",
            " ".join(step.writes),
        )
        for step in plan.steps
    ]
    console.show_table(("STEP", "WHAT", "SIGNED BY", "WRITES"), rows)
    return 0
