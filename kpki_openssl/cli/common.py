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


def write_output(name: str, text: str, mode: int) -> None:
    """-o FILE: the whole text, written atomically; a folder or an unwritable place is refused
    in one line (exit 2), not with a traceback."""
    from kpki_openssl.base.errors import InputError
    from kpki_openssl.base.safefs import WriteFailed
    from kpki_openssl.execute.runner import write_file

    path = Path(name)
    if path.is_dir():
        raise InputError(f"-o: {name!r} is a folder, not a file")
    try:
        write_file(path, text, mode)
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
