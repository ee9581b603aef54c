"""`rotate-ca CA [--stage trust|switch|remove] [--dry-run] [--host HOST] [--cert FILE]`:
rotate one CA in three stages a running cluster survives, each worked out from the folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Without --stage: where the folder stands in CA's rotation and what comes next. "
        "trust: a new CA beside the old and a bundle (old + new) wherever a certificate is "
        "checked; switch: every certificate the CA signs re-signed by the new CA with its kept "
        "key, the controller manager's signer switched; remove: the new CA takes the old one's "
        "file names, the old one's files kept under DIR/.kpki/replaced/ (refused while any "
        "certificate still chains to the old CA). Each stage prints, per host, the files that "
        "change and the restart order. The service-account key pair (sa) rotates the same "
        "way: trust adds its new public key as a second --service-account-key-file, switch "
        "moves the signing flags to the new private key, remove (after the longest token "
        "lifetime) leaves the new pair alone under the recipe's names."
    )
    parser.add_argument(
        "ca",
        metavar="CA",
        help="a self-signed CA of the recipe, or its service-account key pair (sa)",
    )
    parser.add_argument("--stage", choices=("trust", "switch", "remove"), help="run this stage")
    parser.add_argument("--dry-run", action="store_true", help="print the stage; write nothing")
    parser.add_argument(
        "--host", metavar="HOST", help="print the install commands of this stage for HOST"
    )
    parser.add_argument(
        "--cert",
        action="append",
        default=[],
        metavar="FILE",
        help="a certificate from elsewhere (a node's) that remove must find off the old CA",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base.errors import InputError
    from kpki_openssl.checks import rotation_stage, rotation_state

    full = load_plan(args)
    keypair = rotation_stage.check_name(full, args.ca)  # a CA the recipe lacks: one line, exit 2
    out = out_dir(args)
    for cert in args.cert:
        if not Path(cert).is_file():
            raise InputError(f"--cert: {cert!r} is not a file")
    if keypair and args.cert:
        raise InputError(f"--cert: {args.ca} is a key pair; no certificate chains to it")
    where = rotation_stage.position(out, full, args.ca)
    state = where.state
    if args.stage is None:
        _show_status(state, args)
        if args.host is None:
            return 0
    stage_name = args.stage or state.next or "trust"
    stage = rotation_stage.stage(out, full, where, stage_name)
    if args.host is not None:
        from kpki_openssl.deploy import rotation as deploy_rotation

        sys.stdout.write(deploy_rotation.install_script(full, stage, args.host))
        return 0
    rotation_stage.refuse_old_leaves(out, full, where, stage, [Path(c) for c in args.cert])
    if args.dry_run:
        from kpki_openssl.plan import shell_text

        text = "# dry run: nothing is written\n" + shell_text.plan_text(stage.plan)
        if stage.stage == "remove":  # done by run_stage after the steps, logged the same way
            from kpki_openssl.plan import rotation

            own = shell_text.argv_text(("rm", "-f", "--", *rotation.own_files(stage.files)))
            text += f"# then the rotation's own files, now copies or leftovers:\n{own}\n"
        sys.stdout.write(text + _notes(stage) + _hosts_text(full, stage))
        return 0
    from kpki_openssl.base import console
    from kpki_openssl.execute.rotation import run_stage

    typed = f"rotate-ca {args.ca} --stage {stage_name} --recipe {args.recipe}"
    run_stage(out, full, stage, console.Reporter(args.quiet), typed)
    after = rotation_state.all_status(out, full)[args.ca]
    sys.stdout.write(
        f"{out}: rotate-ca {args.ca} --stage {stage_name} done; now: {after.meaning}"
        + (f"; next: --stage {after.next}" if after.next else "")
        + "\n"
        + _notes(stage)
        + _hosts_text(full, stage)
    )
    return 0


def _notes(stage) -> str:
    return "".join(f"# note: {note}\n" for note in stage.notes)


def _show_status(state, args: argparse.Namespace) -> None:
    lines = [f"{args.ca}: {state.meaning} ({state.phase})"]
    if state.old_leaves or state.new_leaves:
        lines.append(
            f"  leaves from the old CA: {len(state.old_leaves)}; "
            f"from the new CA: {len(state.new_leaves)}"
        )
    if state.pending:
        lines.append(f"  not yet as the stage writes them: {', '.join(state.pending)}")
    if state.next:
        lines.append(f"  next: kpki-openssl rotate-ca {args.ca} --stage {state.next}")
    sys.stdout.write("\n".join(lines) + "\n")


def _hosts_text(full, stage) -> str:
    from kpki_openssl.deploy import rotation as deploy_rotation

    found = deploy_rotation.changes(full, stage)
    if not found:
        return "# no host (from 'hosts') receives a file of this stage\n"
    typed = f"--rotate-ca {stage.ca} --stage {stage.stage}"
    lines = [
        f"# per host ('rotate-ca {stage.ca} --stage {stage.stage} --host HOST' or 'export {typed}"
        " --host HOST' installs one host's; 'export "
        f"{typed} --format ansible -o DIR' all of them, restarts in this order):"
    ]
    for change in found:
        lines.append(f"#   {change.host}: " + ", ".join(src for src, _p, _m in change.files))
    lines.append("# restarts, in this order (reload behaviour from the Kubernetes reference):")
    lines += [f"#  {line}" for line in deploy_rotation.restart_lines(found)]
    return "\n".join(lines) + "\n"
