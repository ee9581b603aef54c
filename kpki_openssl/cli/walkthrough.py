"""`walkthrough [STEP...]`: the plan step by step - why, the commands, then run and show."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import (
    add_out_option,
    add_recipe_options,
    finish_command,
    load_plan,
    out_dir,
)

SHORT_TERMINAL = 30  # rows: on a shorter terminal a walkthrough is compact unless told


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "For each step: what it is for, where it departs from the document, the "
        "exact commands and what their flags mean; press Enter to run them and see the files "
        "and the certificate they made (s skips, q quits), then Enter again for the next step "
        "(p proves the folder with etcd, kubectl and curl; e explains the step in full). Steps "
        "already complete in the folder are passed over, so a walkthrough quit halfway can be "
        "resumed, or finished with 'kpki-openssl run all'. It never waits when stdin is not a "
        "terminal. With --rotate-ca CA it walks a rotation of CA instead, in an existing folder."
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
    parser.add_argument(
        "--lesson",
        action="store_true",
        help="one step of each kind: a CA, a user, a system component, the API server, a "
        "kubelet's client and serving certificates, etcd with its CA, a kubeconfig, a flags file",
    )
    parser.add_argument(
        "--compact",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rows made per node shown once and several steps on a screen (default: on a "
        f"terminal shorter than {SHORT_TERMINAL} rows)",
    )
    parser.add_argument(
        "--rotate-ca",
        metavar="CA",
        help="walk the rotation of CA (a self-signed CA of the recipe, or sa) in an existing "
        "folder from where it stands: a page for each stage (trust, switch, remove: what it "
        "writes, who trusts what and why, the files per host and the restart order), its steps, "
        "and a pause for the restarts before the next stage",
    )
    parser.add_argument(
        "--stage",
        choices=("trust", "switch", "remove"),
        help="with --rotate-ca: walk this stage only",
    )
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import sys

    from kpki_openssl.base import console
    from kpki_openssl.base.errors import InputError
    from kpki_openssl.teach.walkthrough import Walkthrough, terminal_ask

    full = load_plan(args)
    if args.rotate_ca is not None or args.stage is not None:
        return _rotate(args, full)
    if args.lesson:
        from kpki_openssl.teach.kinds import lesson_steps

        if args.steps:
            raise InputError("--lesson: it picks the steps itself; give no STEP with it")
        plan = full.select(lesson_steps(full))
    else:
        plan = full.select(args.steps)
    makers = {path: step.name for step in full.steps for path in step.writes}
    ask = None if args.yes else terminal_ask(sys.stdin, sys.stdout)
    rows = console.height(sys.stdout) if ask is not None else None
    compact = args.compact
    if compact is None:
        compact = rows is not None and rows < SHORT_TERMINAL
    check = None
    if args.check:
        from kpki_openssl.checks.step_findings import checker
        from kpki_openssl.recipe.load import load_recipe

        check = checker(load_recipe(args.recipe), full, out_dir(args), makers)
    walk = Walkthrough(
        out_dir(args),
        sys.stdout,
        ask,
        args.keep_going,
        makers,
        check,
        full=full,
        rows=rows,
        compact=compact,
        finish=finish_command(args, "run", ["all"]),
    )
    result = walk.walk(plan)
    return 1 if result.failed else 0


def _rotate(args: argparse.Namespace, full) -> int:
    """`--rotate-ca CA [--stage S]`: the rotation, stage by stage, from where the folder stands."""
    import sys

    from kpki_openssl.base import console
    from kpki_openssl.base.errors import InputError
    from kpki_openssl.teach.rotation_walk import RotationWalk
    from kpki_openssl.teach.walkthrough import terminal_ask

    if args.rotate_ca is None:
        raise InputError("--stage: it names a stage of --rotate-ca CA; give --rotate-ca with it")
    if args.steps:
        raise InputError(f"--rotate-ca: the stages name the steps; give no STEP ({args.steps[0]})")
    if args.lesson:
        raise InputError("--rotate-ca: a rotation is not a lesson; give no --lesson with it")
    if args.compact is not None:
        raise InputError("--rotate-ca: its pages are always full; give no --compact/--no-compact")
    if not args.check:
        raise InputError("--rotate-ca: it shows no findings after a step; give no --no-check")
    ask = None if args.yes else terminal_ask(sys.stdin, sys.stdout)
    walk = RotationWalk(
        out_dir(args),
        sys.stdout,
        ask,
        full,
        args.rotate_ca,
        lambda command, words: finish_command(args, command, words),
        rows=console.height(sys.stdout) if ask is not None else None,
        keep_going=args.keep_going,
    )
    result = walk.rotate(args.stage)
    return 1 if result.failed else 0
