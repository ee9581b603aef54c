"""`renew NAME...|all [--dry-run]`: re-sign existing certificates with the same CA and key."""

from __future__ import annotations

import argparse
import sys

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir
from kpki_openssl.cli.run import embedding, invocation


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Sign each named certificate's existing CSR again (openssl x509 -req) with "
        "the same CA and the same key: the subject comes from the CSR and the SANs from the .cnf "
        "in the folder; only the validity (-days from the recipe) and the serial are new. "
        "Renewing the CA keeps its key, so the certificates it signed still verify. Kubeconfigs "
        "that embed a renewed certificate are made again. Logged to DIR/commands.sh like every "
        "other command."
    )
    parser.add_argument("steps", nargs="+", metavar="NAME", help="'all' or step names (see 'list')")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the renew commands; write nothing"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base import console
    from kpki_openssl.base.errors import KpkiError
    from kpki_openssl.execute.runner import LOG_NAME, Runner
    from kpki_openssl.plan import shell_text
    from kpki_openssl.plan.steps import build_renew_plan

    every = build_renew_plan(load_plan(args))
    plan = every.select(args.steps)
    plan = every.select([s.name for s in plan.steps] + embedding(every, plan))
    if args.dry_run:
        from kpki_openssl.base.trust_store_setting import NOTE

        console.show_script(
            "# dry run: nothing is written\n" + shell_text.plan_text(plan) + "\n" + NOTE,
            fold=True,
        )
        return 0
    out = out_dir(args)
    if not out.is_dir():
        raise KpkiError(
            f"{out}: no PKI here to renew ('kpki-openssl run all --out {out}' builds one)"
        )
    typed = invocation(args, "renew")
    runner = Runner(out, report=console.Reporter(args.quiet), invocation=typed)
    result = runner.renew(plan, strict="all" not in args.steps)
    sys.stdout.write(
        f"{out}: {len(result.renewed)} renewed, {len(result.skipped)} not built yet; "
        f"commands logged in {out / LOG_NAME}\n"
    )
    return 0
