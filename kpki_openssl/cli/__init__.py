"""Command line: one module per command, named once in a registry; errors as one line and an exit
status.

Each command lives in its own module with a `configure(parser)` function, named once in
COMMANDS; this module only builds the parser and turns errors into one line and an exit status.
Only the module of the command being run is imported, and heavy imports (rich, yaml,
cryptography) happen inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module

from kpki_openssl import __version__
from kpki_openssl.base.errors import CommandFailed, KpkiError


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its module under kpki_openssl.cli, and its one-line help."""

    name: str
    module: str
    help: str


# The one list of commands, in the order `--help` shows them. A command's module defines
# `configure(parser)` (its options and `set_defaults(func=...)`); only the module of the
# command being run is imported.
COMMANDS = (
    Command("run", "run", "build the PKI (or named steps) in the output folder"),
    Command("renew", "renew", "re-sign certificates: same CA, key, subject and SANs; new validity"),
    Command(
        "rotate-ca",
        "rotate_ca",
        "rotate a CA in stages a running cluster survives: trust, switch, remove",
    ),
    Command("list", "list_steps", "the steps in order, with what each makes"),
    Command(
        "explain",
        "explain",
        "why a step exists, what each flag does, and where we depart from the document",
    ),
    Command(
        "walkthrough",
        "walkthrough",
        "step by step: why each step, its commands, then run it and show what appeared",
    ),
    Command(
        "prove",
        "prove",
        "run etcd, etcdctl, kubectl and curl against the folder's files (on 127.0.0.1, or --fleet)",
    ),
    Command(
        "compare", "compare", "diff another recipe's commands against this one's, step by step"
    ),
    Command(
        "diagram", "diagram", "draw who presents which certificate to whom, and what each CA signs"
    ),
    Command(
        "export",
        "export",
        "write the plan as a bash script, a Markdown handout, or a node's CSR script",
    ),
    Command(
        "hosts", "hosts", "list which file goes to which host (control plane, etcd members, nodes)"
    ),
    Command(
        "csr", "csr", "print a Kubernetes CertificateSigningRequest manifest for a generated CSR"
    ),
    Command(
        "sign",
        "sign",
        "sign CSRs made elsewhere (a node's own key) with the recipe's commands",
    ),
    Command(
        "review-csrs",
        "review_csrs",
        "say which pending kubelet-serving CSRs (kubectl get csr -o json) to approve",
    ),
    Command("verify", "verify", "check the output folder against the recipe"),
    Command(
        "inspect", "inspect", "show one certificate, CSR or kubeconfig's certificate in human form"
    ),
    Command(
        "check-expiration",
        "check_expiration",
        "expiry of every certificate in the folder (CAs, leaves, kubeconfigs)",
    ),
    Command("lint", "lint", "check a recipe before anything is generated"),
)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; the command named in `argv` (all of them when `argv` is empty) configured."""
    parser = argparse.ArgumentParser(
        prog="kpki-openssl",
        description="Build a Kubernetes PKI with the exact openssl commands a person would type.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help)
        if chosen is None or chosen == command.name:
            import_module(f"kpki_openssl.cli.{command.module}").configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
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
        from kpki_openssl.cli.common import interrupted

        sys.stderr.write(f"kpki-openssl: {interrupted(args)}\n")
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
    except Exception as exc:
        if not openssl_refused(exc):
            raise
        import os

        from kpki_openssl.base.messages import one_line

        conf = os.environ.get("OPENSSL_CONF")
        where = f" (OPENSSL_CONF={conf})" if conf else ""
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        sys.stderr.write(
            "kpki-openssl: error: "
            + one_line(
                f"the OpenSSL library refused an operation{where}: a configuration that "
                f"disables the default provider or its algorithms cannot make or read this "
                f"PKI (OpenSSL: {first})"
            )
            + "\n"
        )
        return 1


def openssl_refused(exc: BaseException) -> bool:
    """Whether `exc` comes from the OpenSSL library this process uses (cryptography, hashlib,
    ssl): what a restrictive OPENSSL_CONF gives, e.g. default_properties = fips=yes without a
    FIPS provider, or no default provider at all."""
    module = (type(exc).__module__ or "").split(".")[0]
    if module in ("cryptography", "_hashlib", "ssl", "_ssl"):
        return True
    # hashlib on a distribution's Python raises a plain ValueError carrying OpenSSL's own
    # error-library name ("[digital envelope routines] unsupported")
    return isinstance(exc, ValueError) and str(exc).startswith("[digital envelope routines]")
