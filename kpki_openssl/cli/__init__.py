"""Command line: `python -m kpki_openssl` / `kpki-openssl`.

Each command lives in its own module with a `register(subparsers)` function; this module only
builds the parser and turns errors into one line and an exit status. Heavy imports (rich, yaml,
cryptography) happen inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kpki_openssl import __version__
from kpki_openssl.base.errors import CommandFailed, KpkiError
from kpki_openssl.cli import (
    check_expiration,
    compare,
    csr,
    diagram,
    explain,
    export,
    hosts,
    inspect,
    lint,
    list_steps,
    prove,
    renew,
    run,
    verify,
    walkthrough,
)

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
    hosts,
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

        from kpki_openssl.base.messages import one_line

        sys.stderr.write(f"kpki-openssl: error: command failed (exit {exc.retcode}):\n")
        sys.stderr.write(f"  {one_line(shlex.join(exc.argv), 1000)}\n")
        lines = exc.stderr.strip().splitlines()
        for line in lines[:20]:  # the program's own words, each line made safe to print
            sys.stderr.write(f"  | {one_line(line)}\n")
        if len(lines) > 20:
            sys.stderr.write(f"  | ... ({len(lines) - 20} more lines)\n")
        return exc.exit_code
    except KpkiError as exc:
        from kpki_openssl.base.messages import one_line

        sys.stderr.write(f"kpki-openssl: error: {one_line(str(exc))}\n")
        return exc.exit_code
    except BrokenPipeError:  # `... | head`: the reader has gone, nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("kpki-openssl: interrupted\n")
        return 130
    except OSError as exc:  # a folder that cannot be made, a disk that is full: one line
        from kpki_openssl.base.messages import one_line

        if exc.filename:
            both = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else f"{exc.filename}"
            text = f"{both}: {exc.strerror or exc}"
        else:  # the system named no file: say so, rather than a bare "No space left"
            text = f"{exc.strerror or exc} (writing or reading a file the system did not name)"
        sys.stderr.write(f"kpki-openssl: error: {one_line(text)}\n")
        return 1
