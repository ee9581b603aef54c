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
    import textwrap

    from kpki_openssl.plan.steps import Command
    from kpki_openssl.teach import flag_glossary

    texts = [lesson.explain_text(lesson.step_lesson(step, full)) for step in plan.steps]
    argvs = [a.argv for s in plan.steps for a in s.actions if isinstance(a, Command)]
    pad = " " * 6
    env = "".join(
        f"Environment\n  $ {n.text}\n"
        + textwrap.fill(
            n.meaning, 100, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False
        )
        + "\n\n"
        for n in flag_glossary.environment_notes(argvs)
    )
    sys.stdout.write(env + ("\n" + "=" * 78 + "\n\n").join(texts))
    return 0
