"""`lint [--recipe ...] [--json]`: what in a recipe will break a cluster, before anything runs."""

from __future__ import annotations

import argparse
import sys

from kpki_openssl.cli.common import add_recipe_options


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Server certificates without SANs, kubeconfig hosts outside the apiserver "
        "SANs, identities default RBAC will not authorize, leaves outliving their CA, duplicate "
        "files, weak keys, usages that do not fit the role, missing .cnf sections. Reads the "
        "recipe only; runs nothing. Exit 0 when clean, 1 with findings."
    )
    add_recipe_options(parser)
    parser.add_argument("--json", action="store_true", help="findings as JSON on stdout")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import json

    from kpki_openssl.base import console
    from kpki_openssl.checks.lint import CHECKS, lint
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    recipe = load_recipe(args.recipe)
    findings = lint(recipe, resolve_variables(recipe, args.sets))
    if args.json:
        doc = {
            "recipe": recipe.name,
            "clean": not findings,
            "findings": [
                {"where": f.where, "check": f.check, "problem": f.problem} for f in findings
            ],
            "checks": CHECKS,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif not findings:
        sys.stdout.write(f"recipe {recipe.name}: lint-clean ({len(CHECKS)} checks)\n")
    elif console.is_terminal(sys.stdout):
        rows = [(f.where, f.check, f.problem) for f in findings]
        console.show_table(("WHERE", "CHECK", "PROBLEM"), rows, title=f"lint: {recipe.name}")
    else:
        sys.stdout.write("".join(f.line() + "\n" for f in findings))
    if findings and not args.json:
        sys.stderr.write(f"recipe {recipe.name}: {len(findings)} findings\n")
    return 1 if findings else 0
