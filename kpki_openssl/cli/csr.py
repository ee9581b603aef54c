"""`csr NAME`: a certificates.k8s.io/v1 CertificateSigningRequest manifest for a generated CSR."""

from __future__ import annotations

import argparse
import sys

from kpki_openssl.cli.common import (
    add_out_option,
    add_output_option,
    add_recipe_options,
    load_plan,
    out_dir,
    write_output,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Wrap DIR/NAME.csr in a certificates.k8s.io/v1 CertificateSigningRequest "
        "with the signerName and usages its role calls for (kubelet client: "
        "kube-apiserver-client-kubelet; kubelet serving: kubelet-serving; other clients: "
        "kube-apiserver-client). Apply it with kubectl and approve it to have the cluster sign. "
        "stderr names the signer and the approval it needs; a subject the API server refuses "
        "(O=system:masters for kube-apiserver-client) is refused here."
    )
    parser.add_argument("name", metavar="NAME", help="a step name (see 'list')")
    parser.add_argument(
        "--signer",
        metavar="SIGNER",
        help="a custom signerName (for certificates no built-in signer issues)",
    )
    add_output_option(parser)
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import os

    from kpki_openssl.base.errors import InputError, KpkiError
    from kpki_openssl.base.safefs import read_regular
    from kpki_openssl.checks import request_match
    from kpki_openssl.plan import certificates_api
    from kpki_openssl.plan.steps import CertStep

    if args.signer is not None:
        signer_name(args.signer)
    step = load_plan(args).step(args.name)
    if not isinstance(step, CertStep):
        raise InputError(f"csr: step {args.name!r} makes no certificate request")
    path = out_dir(args) / step.spec.csr_file
    request = certificates_api.request_for(step.spec, args.signer)
    if not os.path.lexists(path):
        raise InputError(
            f"csr: {path} does not exist; run {args.name} first (run {args.name} --out "
            f"{args.out}), or have the node make it (export --node)"
        )
    # bounded, and never waiting on a FIFO planted where the CSR should be
    pem = read_regular(path, what="a certificate request")
    wrong = request_match.problem(step.spec, pem)
    if wrong:
        raise KpkiError(
            f"csr {args.name}: {wrong}; nothing was written ('run {args.name} --force' makes "
            "the recipe's request again)"
        )
    text = certificates_api.manifest(request, pem)
    sys.stderr.write(certificates_api.approval_note(request) + "\n")
    if args.output:
        write_output(args.output, text, 0o644, args.overwrite)
    else:
        sys.stdout.write(text)
    return 0


def signer_name(value: str) -> str:
    """--signer: DOMAIN/PATH as the Certificates API requires (example.com/my-signer)."""
    import re

    from kpki_openssl.base.errors import InputError
    from kpki_openssl.recipe import validate

    domain, _, path = value.partition("/")
    try:
        validate.dns_name("--signer", domain)
        ok = "." in domain and re.fullmatch(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*", path)
    except InputError:
        ok = False
    if not ok:
        raise InputError(
            f"--signer: {value!r} is not a signer name of the form DOMAIN/NAME "
            "(example.com/my-signer)"
        )
    return value
