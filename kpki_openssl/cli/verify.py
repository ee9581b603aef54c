"""`verify [--out DIR] [--recipe ...] [--json] [--show-commands]`: is this PKI right?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir

if TYPE_CHECKING:
    from kpki_openssl.plan.steps import Plan


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Each certificate chains to its CA (openssl verify -x509_strict), its key "
        "matches, subject/SANs/usages are what the recipe makes, it is not expired and does not "
        "outlive its CA, keys are 0600; kubeconfigs' certificates match the folder and their "
        "server host is in the apiserver SANs. Exit 0 when all hold, 1 with one line per problem."
    )
    add_recipe_options(parser)
    add_out_option(parser)
    parser.add_argument("--json", action="store_true", help="every check as JSON on stdout")
    parser.add_argument(
        "--show-commands",
        action="store_true",
        help="list every check with the openssl command that performs it",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime, timezone

    from kpki_openssl.base import console
    from kpki_openssl.checks.verify import verify

    plan = load_plan(args)
    out = out_dir(args)
    now = datetime.now(timezone.utc)
    with console.progress(len(plan.certs), "verify", quiet=args.quiet) as step:
        report = verify(out, plan, now, progress=step, elsewhere=keys_elsewhere(out, plan))
    problems = report.problems
    summary = (
        f"{out}: {report.certificates} certificates, {report.kubeconfigs} kubeconfigs, "
        f"{len(report.checks)} checks"
    )
    if args.json:
        doc = {
            "out": str(out),
            "recipe": plan.recipe,
            "checked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ok": not problems,
            "counts": {
                "certificates": report.certificates,
                "kubeconfigs": report.kubeconfigs,
                "checks": len(report.checks),
                "problems": len(problems),
            },
            "checks": [c.as_dict() for c in report.checks],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif args.show_commands:
        _show_all(report.checks)
    elif problems:
        if console.is_terminal(sys.stdout):
            rows = [(c.file, c.check, c.problem) for c in problems]
            console.show_table(("FILE", "CHECK", "PROBLEM"), rows, title=f"verify: {out}")
        else:
            sys.stdout.write("".join(c.line() + "\n" for c in problems))
    if not args.json:
        if problems:
            sys.stderr.write(f"{summary}: {len(problems)} problems\n")
        else:
            sys.stdout.write(f"{summary}: all pass\n")
    return 1 if problems else 0


def keys_elsewhere(out: Path, plan: Plan) -> frozenset[str]:
    """Key files that live where their CSR was made: steps only `sign` makes
    (node_keys=on-node), and steps whose build record says `sign` made them from a CSR."""
    from kpki_openssl.execute import record, record_store
    from kpki_openssl.plan.signing import waiting
    from kpki_openssl.plan.steps import CertStep

    keys = {s.spec.key_file for s in waiting(plan)}
    from kpki_openssl.base.folder_names import META_DIR

    meta = out / META_DIR
    if meta.is_dir():
        records = record_store.load(meta, plan.steps, lambda _path: "", settle=False)
        for step in plan.steps:
            if isinstance(step, CertStep) and record.from_csr(records.get(step.name)):
                keys.add(step.spec.key_file)
    return frozenset(keys)


def _show_all(checks) -> None:
    from kpki_openssl.base import console

    if console.is_terminal(sys.stdout):
        rows = [("ok" if c.ok else "FAIL", c.file, c.check, c.problem, c.command) for c in checks]
        console.show_table(("", "FILE", "CHECK", "PROBLEM", "COMMAND"), rows)
        return
    for c in checks:
        status = "ok  " if c.ok else "FAIL"
        tail = f": {c.problem}" if c.problem else ""
        sys.stdout.write(f"{status} {c.file}: {c.check}{tail}\n")
        if c.command:
            sys.stdout.write(f"     $ {c.command}\n")
