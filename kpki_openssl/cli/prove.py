"""`prove [--recipe R] [--out DIR] [--json]`: the real consumers against the folder."""

from __future__ import annotations

import argparse

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir
from kpki_openssl.prove.registry import DEFAULT, NAMES  # names: groups load when run


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Start etcd from the folder's etcd flags files and an openssl s_server "
        "presenting the apiserver's (and each kubelet's) certificate on free 127.0.0.1 ports, "
        "then ask etcdctl, kubectl (with each kubeconfig) and the document's curl call to use "
        "them, and a certificate from another CA to get in; and (hostile-csr) a node's CSR "
        "asking for CA:TRUE, signed the Hard Way and by the recipe's command, against etcd "
        "trusting the cluster CA; and, only with --only rotation, the etcd CA rotated stage "
        "by stage on a scratch copy with a 3-member etcd restarted member by member; only with "
        "--only rotation-ca or rotation-front-proxy, the cluster CA or the front-proxy CA "
        "rotated on a scratch copy, an etcd standing in for kube-apiserver (none runs) started "
        "again from its flags after each stage, kubectl with every kubeconfig and curl with the "
        "front-proxy client. Prints "
        "what each program did, in its own words when it refuses. Exit 0 when every check "
        "passes, 1 otherwise."
    )
    parser.add_argument("--json", action="store_true", help="the checks as JSON on stdout")
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="GROUP",
        help=f"run only these groups of checks (repeatable; {', '.join(NAMES)}; "
        f"{', '.join(n for n in NAMES if n not in DEFAULT)} run only when named)",
    )
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="as root: each host in its own network namespace at the recipe's addresses, "
        "installed by ansible-playbook over ssh, each check run on one host with its own files",
    )
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import json
    import signal
    import sys

    from kpki_openssl.base.errors import InputError
    from kpki_openssl.prove.prover import prove
    from kpki_openssl.prove.results import result_text

    plan = load_plan(args)
    out = out_dir(args)
    if not out.is_dir():
        raise InputError(f"--out: {args.out!r} does not exist (build it first: run all)")

    def interrupted(_signum, _frame):  # SIGTERM stops the servers like Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        if args.fleet:  # prove/fleet.py: a fleet of namespaces, its own checks and report
            from kpki_openssl.prove.fleet import prove_fleet
            from kpki_openssl.prove.fleet_report import result_text  # noqa: F811

            if args.only:
                raise InputError("--only: prove --fleet runs every check; drop --only")
            result = prove_fleet(plan, out)
        else:
            result = prove(plan, out, args.only or DEFAULT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.fleet and any(c.status == "fail" for c in result.checks):
        _why(args, plan, result.checks)  # lint's words for the files a failure used
    if args.json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
    else:
        sys.stdout.write(result_text(result))
    return result.exit_code


def _why(args: argparse.Namespace, plan, checks: list) -> None:
    """Lint's findings for the recipe, each under the failed checks whose command names the
    certificate's files (its step name, or its file stem)."""
    from kpki_openssl.checks.lint import lint
    from kpki_openssl.prove.results import attach_why
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    recipe = load_recipe(args.recipe)
    stems = {c.name: c.base for c in plan.certs}
    findings = [
        (f"{stems.get(f.where, f.where)}.", f.line())
        for f in lint(recipe, resolve_variables(recipe, args.sets))
    ]
    attach_why(checks, findings)
