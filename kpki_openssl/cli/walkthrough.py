"""`walkthrough [STEP...]`: the plan step by step - why, the commands, then run and show."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "For each step: what it is for, where it departs from the document, the "
        "exact commands and what their flags mean; press Enter to run them and see the files "
        "and the certificate they made (s skips, q quits), then Enter again for the next step "
        "(p proves the folder with etcd, kubectl and curl; e explains the step in full). Steps "
        "already complete in the folder are passed over, so a walkthrough quit halfway can be "
        "resumed, or finished with 'kpki-openssl run all'. It never waits when stdin is not a "
        "terminal."
    )
    parser.add_argument(
        "steps", nargs="*", metavar="STEP", help="steps to walk through (default: all)"
    )
    parser.add_argument("-y", "--yes", action="store_true", help="run every step without pausing")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="after a failed command, show the error and go on to the next step "
        "(to see everything that goes wrong, e.g. with --recipe as-written)",
    )
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="do not show lint's and verify's findings after each step",
    )
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import sys

    from kpki_openssl.teach.walkthrough import Walkthrough, terminal_ask

    full = load_plan(args)
    plan = full.select(args.steps)
    makers = {path: step.name for step in full.steps for path in step.writes}
    ask = None if args.yes else terminal_ask(sys.stdin, sys.stdout)
    check = None
    if args.check:
        from kpki_openssl.checks.step_findings import checker
        from kpki_openssl.recipe.load import load_recipe

        check = checker(load_recipe(args.recipe), full, out_dir(args), makers)
    walk = Walkthrough(out_dir(args), sys.stdout, ask, args.keep_going, makers, check, full=full)
    result = walk.walk(plan)
    return 1 if result.failed else 0
