"""`export [-o FILE]`: the plan as a standalone bash script."""

from __future__ import annotations

import argparse
import sys

from kpki_openssl.cli.common import add_recipe_options, load_plan


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the plan as a standalone bash script",
        description="A bash script (set -euo pipefail, umask 077) that builds the same PKI in the "
        "current directory with the same openssl commands.",
    )
    parser.add_argument("steps", nargs="*", metavar="STEP", help="steps to export (default: all)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kpki_openssl import shell
    from kpki_openssl.runner import write_file

    text = shell.script(load_plan(args).select(args.steps))
    if args.output:
        write_file(Path(args.output), text, 0o755)
    else:
        sys.stdout.write(text)
    return 0
