"""Command line: `python -m kpki_openssl` / `kpki-openssl`.

Each command lives in its own module with a `register(subparsers)` function; this module only
builds the parser and turns errors into one line and an exit status. Heavy imports (rich, plumbum,
yaml) happen inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kpki_openssl import __version__
from kpki_openssl.cli import (
    check_expiration,
    compare,
    csr,
    diagram,
    explain,
    export,
    inspect,
    lint,
    list_steps,
    prove,
    renew,
    run,
    verify,
    walkthrough,
)
from kpki_openssl.errors import CommandFailed, KpkiError

COMMANDS = (
    run,
    renew,
    list_steps,
    explain,
    walkthrough,
    prove,
    compare,
    diagram,
    export,
    csr,
    verify,
    inspect,
    check_expiration,
    lint,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kpki-openssl",
        description="Build a Kubernetes PKI with the exact openssl commands a person would type.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandFailed as exc:
        import shlex

        sys.stderr.write(f"kpki-openssl: error: command failed (exit {exc.retcode}):\n")
        sys.stderr.write(f"  {shlex.join(exc.argv)}\n")
        for line in exc.stderr.strip().splitlines():
            sys.stderr.write(f"  | {line}\n")
        return exc.exit_code
    except KpkiError as exc:
        sys.stderr.write(f"kpki-openssl: error: {exc}\n")
        return exc.exit_code
    except BrokenPipeError:  # `... | head`: the reader has gone, nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("kpki-openssl: interrupted\n")
        return 130
    except OSError as exc:  # a folder that cannot be made, a disk that is full: one line
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"kpki-openssl: error: {where}{exc.strerror or exc}\n")
        return 1
