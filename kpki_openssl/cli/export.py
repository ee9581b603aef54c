"""`export [-o FILE] [--format bash|markdown|ansible] [--node NODE] [--host HOST]
[--rotate-ca CA --stage STAGE]`: the plan as a standalone bash script, as a Markdown lesson
handout, as the script one node runs to make its own key and CSR, as the `install` commands that
put one host's files in place, or as an Ansible inventory and playbook; with --rotate-ca, the
same for one stage of a CA's rotation, worked out from the folder as `rotate-ca` does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
        "A bash script (set -euo pipefail, umask 077) that builds the same PKI in the "
        "current directory with the same openssl commands; with --format markdown, a lesson "
        "handout of the same plan; with --node NODE, the script that node runs to make its own "
        "keys and CSRs (and their CertificateSigningRequest manifests), so no private key "
        "leaves it."
    )
    parser.add_argument("steps", nargs="*", metavar="STEP", help="steps to export (default: all)")
    add_output_option(parser)
    parser.add_argument(
        "--format",
        choices=("bash", "markdown", "ansible"),
        default="bash",
        help="bash: a script that builds the PKI (default); markdown: a lesson handout; "
        "ansible: an inventory and a playbook installing each host's files (-o DIR, default "
        "ansible; they copy from --out)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="with --format markdown: every step's commands (blocks that build the PKI), not "
        "one step of each kind",
    )
    parser.add_argument(
        "--node",
        metavar="NODE",
        help="the script node NODE runs to make its own keys and CSRs (Certificates API)",
    )
    parser.add_argument(
        "--host",
        metavar="HOST",
        help="the install -D -m MODE commands that put host HOST's files in place (see 'hosts'); "
        "run from the output folder: bash FILE [ROOT]",
    )
    parser.add_argument(
        "--rotate-ca",
        metavar="CA",
        help="one stage of CA's rotation (a self-signed CA of the recipe, or sa), as the folder "
        "stands: with --host HOST that host's install commands (as 'rotate-ca CA --stage STAGE "
        "--host HOST'); with --format ansible an inventory and playbook installing every host's "
        "files of the stage and restarting in the rotation's order (the stage itself runs with "
        "rotate-ca)",
    )
    parser.add_argument(
        "--stage",
        choices=("trust", "switch", "remove"),
        help="with --rotate-ca: the stage to export",
    )
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base.errors import InputError
    from kpki_openssl.plan import shell_text

    if args.rotate_ca is not None or args.stage is not None:
        return _rotation(args)
    plan = load_plan(args).select(args.steps)
    mode = 0o755
    if args.host is not None:
        if args.node is not None or args.format != "bash" or args.steps:
            raise InputError("--host: give it alone (no --node, --format markdown or STEP)")
        from kpki_openssl.deploy import hosts

        text = hosts.install_script(plan, args.host)
    elif args.node is not None:
        if args.format != "bash":
            raise InputError("--format: --node writes a bash script; drop --format markdown")
        text = shell_text.node_script(plan, args.node)
    elif args.format == "ansible":  # a folder of two files: the inventory and the playbook
        from kpki_openssl.deploy import ansible

        if args.steps:
            raise InputError("--format ansible: installs every host's files; give no STEP")
        _write_folder(args, ansible.files(plan, str(out_dir(args).resolve())))
        return 0
    elif args.format == "markdown":
        from kpki_openssl.recipe.load import load_recipe
        from kpki_openssl.teach import handout

        recipe = load_recipe(args.recipe)
        helps = {v.name: v.help for v in recipe.variables.values()}
        pictures = draw_pictures(plan, args.output) if args.output else None
        text = handout.handout(plan, recipe.description, args.full, pictures, helps)
        mode = 0o644
    else:
        if args.full:
            raise InputError("--full: only with --format markdown (the handout)")
        text = shell_text.script(plan)
    if args.output:
        write_output(args.output, text, mode, args.overwrite)
    else:
        sys.stdout.write(text)
    return 0


def _write_folder(args: argparse.Namespace, files: dict[str, str]) -> None:
    """An export of several files (-o DIR, default ansible); none is written over an existing
    file without --overwrite, and the refusal comes before any is written."""
    from kpki_openssl.base.errors import InputError

    folder = Path(args.output or "ansible")
    there = [name for name in files if (folder / name).exists() or (folder / name).is_symlink()]
    if there and not args.overwrite:
        raise InputError(f"-o: {str(folder / there[0])!r} exists; add --overwrite to replace it")
    for name, text in files.items():
        write_output(str(folder / name), text, 0o644, args.overwrite)
        sys.stdout.write(f"wrote {folder / name}\n")


def _rotation(args: argparse.Namespace) -> int:
    """export --rotate-ca CA --stage STAGE (--host HOST | --format ansible)."""
    from kpki_openssl.base.errors import InputError, KpkiError
    from kpki_openssl.checks import rotation_stage

    if args.rotate_ca is None:
        raise InputError("--stage: only with --rotate-ca CA (the CA whose rotation it is)")
    if args.stage is None:
        raise InputError("--rotate-ca: give --stage trust, switch or remove too")
    refused = (
        ("--node", args.node is not None, "a node's own keys are no stage's"),
        ("STEP", bool(args.steps), "a stage's steps are its own"),
        ("--format markdown", args.format == "markdown", "no handout of a stage"),
        ("--full", args.full, "that is for the handout"),
        ("--host", args.host is not None and args.format == "ansible",
         "--format ansible covers every host"),
    )  # fmt: skip
    for flag, given, why in refused:
        if given:
            raise InputError(f"{flag}: not with --rotate-ca ({why})")
    if args.host is None and args.format != "ansible":  # rotate-ca also keeps the records
        raise InputError(
            "--rotate-ca: give --host HOST or --format ansible (the stage itself runs with "
            f"'rotate-ca {args.rotate_ca} --stage {args.stage}'; its --dry-run prints the commands)"
        )
    full = load_plan(args)
    out = out_dir(args)
    where = rotation_stage.position(out, full, args.rotate_ca)
    stage = rotation_stage.stage(out, full, where, args.stage, command="export --rotate-ca")
    typed = f"--rotate-ca {stage.ca} --stage {stage.stage}"
    if args.format == "ansible":
        from kpki_openssl.deploy import ansible

        if stage.stage != "remove" and where.state.phase != rotation_stage.DONE[stage.stage]:
            raise KpkiError(
                f"export {typed} --format ansible: the folder is at '{where.state.meaning}'; "
                f"run 'rotate-ca {stage.ca} --stage {stage.stage}' first (the playbook copies "
                "the files it writes)"
            )  # remove ends its rotation: the playbook itself waits for it (stage_files)
        _write_folder(args, ansible.stage_files(full, stage, str(out.resolve())))
        return 0
    from kpki_openssl.deploy import rotation as deploy_rotation

    text = deploy_rotation.install_script(full, stage, args.host)
    if args.output:
        write_output(args.output, text, 0o755, args.overwrite)
    else:
        sys.stdout.write(text)
    return 0


def draw_pictures(plan, output: str) -> dict[str, tuple[str, str]]:
    """The handout's two pictures drawn beside it (NAME-trust.png and .dot, ...) when dot is on
    PATH, or mmdc (NAME-trust.png and .mmd); {} when neither is (the handout then carries
    their Mermaid source). Paths are relative to the handout's folder."""
    import shutil
    from pathlib import Path

    from kpki_openssl.base import processes
    from kpki_openssl.base.errors import KpkiError
    from kpki_openssl.teach import diagram

    target = Path(output)
    dot, mmdc = shutil.which("dot"), shutil.which("mmdc")
    if not (dot or mmdc) or target.is_dir() or not target.parent.is_dir():
        return {}  # nothing to draw with, or -o is refused: draw nothing beside it
    drawn = {}
    for graph in diagram.graphs(plan):
        image = target.with_name(f"{target.stem}-{graph.name}.png")
        try:
            if dot:
                diagram.render(diagram.dot_graph(graph), image, "png")
                source = image.with_suffix(".dot")
            else:
                source = image.with_suffix(".mmd")
                source.write_text(diagram.mermaid_graph(graph))
                done = processes.run([mmdc, "-i", str(source), "-o", str(image)],
                                     timeout=processes.READ)  # fmt: skip
                if not done.ok:
                    continue
        except (OSError, KpkiError):  # not drawn: the handout carries the Mermaid source
            continue
        drawn[graph.name] = (image.name, source.name)
    return drawn
