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
    from kpki_openssl.execute.command_log import LOG_NAME
    from kpki_openssl.execute.runner import Runner
    from kpki_openssl.plan import shell_text
    from kpki_openssl.plan.steps import build_renew_plan

    full = load_plan(args)
    every = build_renew_plan(full)
    for name in args.steps:
        if name != "all":
            _renewable(full, every, name)
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


def _renewable(full, every, name: str) -> None:
    """A step `renew` cannot take is named for what it is, in one line (not 'unknown step'):
    a key pair has no certificate, and kubeconfigs and component files are written, not signed."""
    from kpki_openssl.base.errors import InputError
    from kpki_openssl.plan.steps import KeyPairStep

    if name in {s.name for s in every.steps}:
        return
    step = full.step(name)  # a name of no step at all: 'unknown step', as everywhere
    if isinstance(step, KeyPairStep):
        raise InputError(
            f"renew: {name!r} is a key pair ({step.spec.key_file}, {step.spec.pub_file}), not a "
            "certificate: it has no validity to renew and is kept as it is"
        )
    raise InputError(
        f"renew: {name!r} is a {step.kind}, not a certificate: renew signs certificates "
        f"(a kubeconfig that embeds a renewed one is made again with it); 'run {name}' "
        "writes it"
    )
