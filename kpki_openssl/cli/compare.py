"""`compare [STEP...] --against RECIPE`: the document as written beside the corrected recipe."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import add_recipe_options, load_plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "For every step both recipes have, a unified diff from the --against "
        "recipe's commands and files to this recipe's (default: the document as written -> "
        "the corrected kubernetes recipe), each followed by what lint finds wrong with the "
        "--against recipe's version."
    )
    parser.add_argument("steps", nargs="*", metavar="STEP", help="steps to compare (default: all)")
    parser.add_argument(
        "--against",
        default="as-written",
        metavar="NAME|FILE",
        help="the recipe to compare with (default: as-written)",
    )
    add_recipe_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base import console
    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables
    from kpki_openssl.teach import compare

    plan = load_plan(args)
    other = load_recipe(args.against, option="--against")
    sets = [s for s in args.sets if s.partition("=")[0].strip() in other.variables]
    before = build_plan(other, resolve_variables(other, sets))
    if args.steps and "all" not in args.steps:
        # a step of either recipe: the document's kube-config.yaml means our admin.kubeconfig
        pairs = compare.counterparts(before, plan)
        theirs = {x.name for x in before.steps}
        ours = [
            pairs.get(s, s) if s in theirs and s not in pairs.values() else s for s in args.steps
        ]
        back = {new: old for old, new in pairs.items()}
        plan = plan.select(ours)
        before = before.select([back[s] for s in ours if s in back])
    from kpki_openssl.checks.lint import lint

    findings: dict[str, list[str]] = {}
    for finding in lint(other, before.values):
        findings.setdefault(finding.where, []).append(f"{finding.check}: {finding.problem}")
    from kpki_openssl.checks.kubectl_load import kubectl_refusals

    for name, said in kubectl_refusals(before).items():
        findings.setdefault(name, []).append(said)
    console.show_script(compare.compare_text(before, plan, findings))
    return 0
