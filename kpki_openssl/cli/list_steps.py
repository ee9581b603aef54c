"""`list`: the plan's steps in order, with what each makes."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import add_recipe_options, load_plan


def configure(parser: argparse.ArgumentParser) -> None:
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base import console
    from kpki_openssl.plan.steps import CertStep

    plan = load_plan(args)
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
