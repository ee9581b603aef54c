"""`check-expiration [--out DIR] [--json] [--warn-days N]`: when does each certificate expire?"""

from __future__ import annotations

import argparse
import sys

from kpki_openssl.cli.common import add_out_option, out_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Like kubeadm certs check-expiration: CERTIFICATE, EXPIRES, RESIDUAL TIME, "
        "CERTIFICATE AUTHORITY; CAs in their own table; kubeconfigs' client certificates "
        "included. With --warn-days N, exit 1 when any certificate expires within N days."
    )
    add_out_option(parser)
    parser.add_argument("--json", action="store_true", help="every certificate as JSON")
    parser.add_argument(
        "--warn-days",
        type=_days,
        metavar="N",
        help="exit 1 when a certificate expires within N days (or has expired, or is not "
        "valid yet)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=main)


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def main(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime, timezone

    from kpki_openssl.base import console, messages
    from kpki_openssl.checks import expiration as ex

    out = out_dir(args)
    now = datetime.now(timezone.utc)

    def shown(name: str) -> str:  # a name from the folder: one bounded line
        return messages.one_line(name, 300)

    with console.progress(None, "check-expiration", quiet=args.quiet) as step:
        found = ex.scan(out, progress=step)
    warn = args.warn_days
    soon = [r for r in found.rows if warn is not None and ex.within(r.info, now, warn)]
    if args.json:

        def item(row: ex.Row) -> dict:
            d = {
                "name": row.name,
                "file": row.file,
                "source": row.source,
                "field": row.field or None,
                "subject": row.info.subject,
                "expires": row.info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
                if row.info.not_after
                else None,
                "residual_days": ex.residual_days(row.info, now),
                "residual": ex.residual(row.info, now),
                "expired": row.info.not_after is None or row.info.not_after <= now,
                "not_yet_valid": ex.not_yet_valid(row.info, now),
                "warn": row in soon,
            }
            if not row.is_ca:
                d["certificate_authority"] = row.ca
            return d

        doc = {
            "out": str(out),
            "checked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "warn_days": warn,
            "certificate_authorities": [item(r) for r in found.cas],
            "certificates": [item(r) for r in found.leaves],
            "unreadable": found.unreadable,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        rows = [
            (shown(r.name), ex.expires_text(r.info), ex.residual(r.info, now), shown(r.ca))
            for r in found.leaves
        ]
        console.show_table(
            ("CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY"), rows
        )
        sys.stdout.write("\n")
        cas = [
            (shown(r.name), ex.expires_text(r.info), ex.residual(r.info, now)) for r in found.cas
        ]
        console.show_table(("CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME"), cas)
    for name in found.unreadable:
        why = found.why.get(name, "not a certificate")
        sys.stderr.write(messages.one_line(f"{name}: cannot be read: {why}", 1000) + "\n")
    if not found.rows and not found.unreadable:
        sys.stderr.write(f"{out}: no certificate found (no *.crt, no kubeconfig)\n")
        return 1
    for row in soon:
        if ex.not_yet_valid(row.info, now):
            sys.stderr.write(
                f"{shown(row.file)}: not valid before {ex.starts_text(row.info)}: not valid yet\n"
            )
            continue
        sys.stderr.write(
            f"{shown(row.file)}: expires {ex.expires_text(row.info)} "
            f"({ex.residual(row.info, now)}), within --warn-days {warn}\n"
        )
    if soon:
        sys.stderr.write(f"{renew_hint(soon, args.out)}\n")
    return 1 if soon or found.unreadable else 0


def renew_hint(rows: list, out: str) -> str:
    """The command that renews these certificates (each named by its file, as the plan names
    its steps); a kubeconfig that embeds one is made again by renew itself."""
    import shlex

    names = list(dict.fromkeys(r.name for r in rows if r.source == "file"))
    if not names:
        return "renew: the certificates these kubeconfigs embed (kpki-openssl renew NAME)"
    command = shlex.join(["kpki-openssl", "renew", *names, "--out", out])
    return f"renew them with: {command} (with the --recipe and --set the folder was built with)"
