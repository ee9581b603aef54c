"""Options shared by every command that reads a recipe or an output folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kpki_openssl.plan.steps import Plan

DEFAULT_RECIPE = "kubernetes"
DEFAULT_OUT = "pki"


def add_recipe_options(parser: argparse.ArgumentParser) -> None:
    """--recipe NAME|FILE and --set KEY=VALUE (repeatable), the same on every command."""
    parser.add_argument(
        "--recipe",
        default=DEFAULT_RECIPE,
        metavar="NAME|FILE",
        help=f"a bundled recipe by name or a recipe file (default: {DEFAULT_RECIPE})",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe variable; lists are comma-separated (repeatable)",
    )


def add_out_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder (default: ./{DEFAULT_OUT})",
    )


def finish_command(
    args: argparse.Namespace, command: str = "", steps: list[str] | None = None
) -> str:
    """The command that finishes what `args` started in its folder: the same command (by
    default), recipe and --set values, as one line a person can paste."""
    import shlex

    from kpki_openssl.base.messages import one_line

    words = ["kpki-openssl", command or args.command, *(args.steps if steps is None else steps)]
    words += ["--out", args.out]
    if getattr(args, "recipe", DEFAULT_RECIPE) != DEFAULT_RECIPE:
        words += ["--recipe", args.recipe]
    for item in getattr(args, "sets", ()):
        words += ["--set", item]
    return one_line(shlex.join(words))


def interrupted(args: argparse.Namespace) -> str:
    """What Ctrl-C leaves behind, in one line: for a command that builds in a folder, what is
    kept there and the command that finishes it."""
    if args.command not in ("run", "renew", "walkthrough") or getattr(args, "dry_run", False):
        return "interrupted"
    from kpki_openssl.base.folder_names import LOG_NAME

    if args.command == "walkthrough":
        finish = finish_command(args, "run", ["all"]) + " (or the walkthrough again)"
    else:
        finish = finish_command(args)
    return (
        f"interrupted: the steps finished in {args.out} are kept (a step cut off is made again "
        f"on the next run, its key kept; commands so far in {args.out}/{LOG_NAME}); "
        f"finish with: {finish}"
    )


def out_dir(args: argparse.Namespace) -> Path:
    """--out as a path; refused (exit 2) when it names something that is not a folder."""
    from kpki_openssl.base.errors import InputError

    if not args.out.strip():  # Path('') is '.': the current folder, never what was meant
        raise InputError(f"--out: {args.out!r} is empty")
    path = Path(args.out)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out: {args.out!r} is not a folder")
    return path


def add_output_option(parser: argparse.ArgumentParser) -> None:
    """-o FILE and --overwrite, the same on every command that writes a file of its own."""
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="with -o: replace FILE when it exists (never a private key)",
    )


def write_output(name: str, text: str, mode: int, overwrite: bool = False) -> None:
    """-o FILE: the whole text, written atomically. A folder, an unwritable place, an existing
    file (unless `overwrite`) and a private key (always) are refused in one line (exit 2), not
    with a traceback. Folders it makes are 0755 less the umask (safefs.make_parents)."""
    import os

    from kpki_openssl.base.errors import InputError, KpkiError
    from kpki_openssl.base.safefs import WriteFailed, make_parents, read_regular, write_file

    path = Path(name)
    if path.is_dir():
        raise InputError(f"-o: {name!r} is a folder, not a file")
    if os.path.lexists(path):
        if not overwrite:
            raise InputError(f"-o: {name!r} exists; add --overwrite to replace it")
        try:
            head = read_regular(path, limit=1 << 30, what="a file to replace")[:65536]
        except KpkiError as exc:
            raise InputError(f"-o: {name!r}: {exc}") from None
        if b"PRIVATE KEY-----" in head:
            raise InputError(f"-o: {name!r} holds a private key; it is never overwritten")
    try:
        make_parents(path.parent)
        write_file(path, text, mode, parent_exists=True)
    except OSError as exc:
        raise InputError(f"-o: cannot write {name!r}: {exc.strerror or exc}") from None
    except WriteFailed as exc:
        raise InputError(f"-o: {exc}") from None


def load_plan(args: argparse.Namespace) -> Plan:
    """Recipe + --set values -> the full plan."""
    import gc

    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe import file_clashes
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    recipe = load_recipe(args.recipe)
    # A plan is a tree of frozen records without cycles: the cyclic garbage collector would
    # only rescan it as it grows (~15% of a 5,000-node plan's time), so it waits until the end.
    enabled = gc.isenabled()
    gc.disable()
    try:
        plan = build_plan(recipe, resolve_variables(recipe, args.sets))
        file_clashes.check(plan)  # two rows making one file, or a row making commands.sh / .kpki
        return plan
    finally:
        if enabled:
            gc.enable()
            gc.freeze()  # the plan lives until exit: keep it out of later collections
