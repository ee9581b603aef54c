"""`diagram [--picture trust|connections|both] [--format mermaid|dot] [--per-node]`: who signs
what, and who presents which certificate to whom, from the plan."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import add_recipe_options, load_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Two pictures of the plan: trust (each CA -> the certificates it signs, with their "
        "use and name) and connections (each client -> server, labelled with the certificate "
        "the client presents, from the kubeconfigs and the flags files; each server says what "
        "it presents). Rows made once per node are drawn once (kubelet ×3) unless --per-node. "
        "Mermaid (default; paste into Markdown) or Graphviz dot (dot -Tsvg draws each graph)."
    )
    parser.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="output format"
    )
    parser.add_argument(
        "--picture",
        choices=("both", "trust", "connections"),
        default="both",
        help="which picture (default: both, trust first)",
    )
    parser.add_argument(
        "--per-node", action="store_true", help="draw each node's kubelet (and etcd member) apart"
    )
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import sys

    from kpki_openssl.teach import diagram

    plan = load_plan(args)
    render = diagram.dot if args.format == "dot" else diagram.mermaid
    sys.stdout.write(render(plan, args.picture, args.per_node))
    return 0
