"""`explain STEP...`: why a step exists, its commands flag by flag, and the document beside ours."""

from __future__ import annotations

import argparse
import sys

from kpki_openssl.cli.common import add_recipe_options, load_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "For each named step: its purpose, every command with each flag explained, "
        "the files it writes, and - where the recipe departs from the source document - the "
        "document's command beside ours with the reason."
    )
    parser.add_argument(
        "steps",
        nargs="+",
        metavar="STEP",
        help="'all' or step names (see 'list'); 'sign' for what sign checks and why; "
        "'rotate-ca' for how a CA is rotated and why in that order",
    )
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base import console
    from kpki_openssl.teach import lesson

    full = load_plan(args)
    if args.steps == ["sign"] and "sign" not in {s.name for s in full.steps}:
        from kpki_openssl.teach import sign_lesson

        sys.stdout.write(sign_lesson.text())
        return 0
    if args.steps == ["rotate-ca"] and "rotate-ca" not in {s.name for s in full.steps}:
        from kpki_openssl.teach import rotation_lesson

        sys.stdout.write(rotation_lesson.text(full))
        return 0
    plan = full.select(args.steps)
    width = console.width(sys.stdout)  # the terminal's; 80 when piped
    texts = [lesson.explain_text(lesson.step_lesson(step, full), width) for step in plan.steps]
    sys.stdout.write(("\n" + "=" * min(78, width) + "\n\n").join(texts))
    return 0
