"""`review-csrs --allowed FILE [CSRS.json|-]`: which pending kubelet-serving CSRs to approve.

Reads `kubectl get csr -o json` and prints `approve NAME` or `deny NAME` on stdout, one line per
pending kubelet-serving CSR, and each reason for a denial on stderr. approve-kubelet-serving.sh
(the bootstrap kit) runs `kubectl certificate approve|deny` on these lines; this command itself
talks to no cluster.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "For each pending CSR of the kubernetes.io/kubelet-serving signer: approve "
        "when the requester is a node of the recipe (system:node:NAME in system:nodes), the "
        "usages are a server's and the request passes the checks sign makes against that "
        "node's serving row (kubelet-serving-allowed.json, from --set kubelet_bootstrap=yes); "
        "deny otherwise. Prints `approve NAME` / `deny NAME` on stdout, reasons on stderr."
    )
    parser.add_argument("csrs", nargs="?", default="-", metavar="CSRS.json",
                        help="kubectl get csr -o json output (default: stdin)")  # fmt: skip
    parser.add_argument("--allowed", required=True, metavar="FILE",
                        help="kubelet-serving-allowed.json from the output folder")  # fmt: skip
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from kpki_openssl.base.errors import InputError
    from kpki_openssl.base.messages import one_line
    from kpki_openssl.checks import serving_review

    def read(name: str, what: str) -> object:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
            return json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            why = one_line(str(exc), 120)
            raise InputError(f"{what}: {name!r} is not readable JSON ({why})") from None

    allowed = read(args.allowed, "--allowed")
    csrs = read(args.csrs, "CSRS.json")
    if not isinstance(allowed, dict) or not isinstance(allowed.get("nodes"), dict):
        raise InputError(f"--allowed: {args.allowed!r} is not a kubelet-serving-allowed.json")
    if not isinstance(csrs, dict) or not isinstance(csrs.get("items", []), list):
        raise InputError(f"CSRS.json: {args.csrs!r} is not `kubectl get csr -o json` output")
    try:
        verdicts = serving_review.review(csrs, allowed)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        why = one_line(repr(exc), 120)
        raise InputError(
            f"--allowed: {args.allowed!r} does not say what is allowed ({why})"
        ) from None
    for verdict in verdicts:
        sys.stdout.write(verdict.line() + "\n")
        for reason in verdict.reasons:
            sys.stderr.write(f"kpki-openssl: review-csrs: deny {verdict.name}: {reason}\n")
    return 0
