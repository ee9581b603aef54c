"""`inspect NAME|FILE`: one certificate, CSR or kubeconfig credential in human form."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Subject, issuer, serial, validity and days left, SANs, key usage, EKU, key "
        "type and size, SHA-256 fingerprint, and the openssl command that shows the same. NAME "
        "is a step name (admin, kubelet-node01) or a file name in --out; FILE is any path."
    )
    parser.add_argument("target", metavar="NAME|FILE")
    add_recipe_options(parser)
    add_out_option(parser)
    parser.add_argument("--json", action="store_true", help="the fields as JSON on stdout")
    parser.set_defaults(func=main)


def resolve(args: argparse.Namespace) -> Path:
    """A path as given, a file in --out (with or without .crt), or a recipe step's certificate."""
    import os
    import stat

    from kpki_openssl.base.errors import InputError
    from kpki_openssl.base.safefs import file_kind

    out = out_dir(args)
    for candidate in (Path(args.target), out / args.target, out / f"{args.target}.crt"):
        if candidate.is_file():
            return candidate
        if os.path.lexists(candidate) and not candidate.is_symlink():
            mode = os.stat(candidate).st_mode
            if not stat.S_ISREG(mode):
                raise InputError(f"NAME|FILE: {str(candidate)!r} is {file_kind(mode)}, not a file")
    plan = load_plan(args)
    for spec in plan.certs:
        if spec.name == args.target and (out / spec.cert_file).is_file():
            return out / spec.cert_file
    raise InputError(
        f"NAME|FILE: {args.target!r} is neither a file nor a certificate of recipe "
        f"{plan.recipe} in {out}"
    )


def main(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime, timezone

    from kpki_openssl.base import console
    from kpki_openssl.checks.inspect import as_dict, fields, inspect

    path = resolve(args)
    now = datetime.now(timezone.utc)
    items = inspect(path, str(path))
    if args.json:
        doc = [as_dict(i, now) for i in items]
        sys.stdout.write(json.dumps(doc[0] if len(doc) == 1 else doc, indent=2) + "\n")
        return 0
    for n, item in enumerate(items):
        if n:
            sys.stdout.write("\n")
        console.show_table(("FIELD", "VALUE"), fields(item, now))
    return 0
