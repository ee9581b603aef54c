"""`diagram [--format mermaid|dot]`: who presents which certificate to whom, from the plan."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import add_recipe_options, load_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The plan's TLS connections as a graph: each client -> server edge is "
        "labelled with the certificate file the client presents (from the kubeconfigs and the "
        "flags files), each CA -> what it signs. Mermaid (default; paste into Markdown) or "
        "Graphviz dot (dot -Tsvg)."
    )
    parser.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="output format"
    )
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import sys

    from kpki_openssl.teach import diagram

    plan = load_plan(args)
    render = diagram.dot if args.format == "dot" else diagram.mermaid
    sys.stdout.write(render(plan))
    return 0
