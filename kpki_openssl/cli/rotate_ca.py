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
    from kpki_openssl.base.errors import InputError, KpkiError
    from kpki_openssl.checks import rotation_state
    from kpki_openssl.plan import rotation

    full = load_plan(args)
    keypair = rotation.is_keypair(full, args.ca)
    if not keypair:
        rotation.files(full, args.ca)  # a CA the recipe does not make: one line, exit 2
    out = out_dir(args)
    for cert in args.cert:
        if not Path(cert).is_file():
            raise InputError(f"--cert: {cert!r} is not a file")
    if keypair and args.cert:
        raise InputError(f"--cert: {args.ca} is a key pair; no certificate chains to it")
    first = (
        rotation.key_files(full, args.ca).pair.key_file
        if keypair
        else rotation.files(full, args.ca).ca.cert_file
    )
    if not (out / first).is_file():
        raise KpkiError(f"{out}: no {args.ca} here to rotate ('run all --out {out}' builds one)")
    states = rotation_state.all_status(out, full)
    state = states[args.ca]
    phases = {n: s.text_phase for n, s in states.items() if n != args.ca}
    if args.stage is None:
        _show_status(state, args)
        if args.host is None:
            return 0
    stage_name = args.stage or state.next or "trust"
    _check_order(state, stage_name, args.ca)
    aside = _aside(out, state)
    done = tuple(p for p in _old_files(full, args.ca) if aside and (out / aside / p).is_file())
    swapped = state.phase in ("remove", "done")  # the new one already holds the old names
    stage = rotation.stage_plan(full, args.ca, stage_name, phases, aside, done, swapped)
    if args.host is not None:
        from kpki_openssl.deploy import rotation as deploy_rotation

        sys.stdout.write(deploy_rotation.install_script(full, stage, args.host))
        return 0
    if stage_name == "remove" and state.phase not in ("remove", "done") and not keypair:
        left = rotation_state.still_old(out, full, args.ca, [Path(c) for c in args.cert])
        if left:
            raise KpkiError(
                f"rotate-ca {args.ca} --stage remove: {left[0]} still chains to the old CA"
                + (f" (and {len(left) - 1} more)" if len(left) > 1 else "")
                + f"; run --stage switch first (or re-issue it from {stage.files.new.cert_file})"
            )
    if args.dry_run:
        from kpki_openssl.plan import shell_text

        text = "# dry run: nothing is written\n" + shell_text.plan_text(stage.plan)
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


def _aside(out: Path, state) -> str:
    """Where remove copies the old CA's files, or '' when they are there already."""
    from kpki_openssl.plan import rotation

    if not state.aside or state.phase == "remove":
        return ""
    return state.aside if state.aside.startswith(rotation.REPLACED_DIR) else ""


def _old_files(full, ca: str) -> tuple[str, ...]:
    from kpki_openssl.plan import rotation

    if rotation.is_keypair(full, ca):
        pair = rotation.key_files(full, ca).pair
        return (pair.key_file, pair.pub_file)
    spec = rotation.files(full, ca).ca
    return tuple(p for p in (spec.cnf_file, spec.key_file, spec.csr_file, spec.cert_file) if p)


def _check_order(state, stage: str, ca: str) -> None:
    """A stage runs only after the one before it has finished."""
    from kpki_openssl.base.errors import KpkiError

    before = {"switch": ("trusted", "switch", "switched"), "remove": ("switched", "remove", "done")}
    if stage in before and state.phase not in before[stage]:
        pending = f" ({', '.join(state.pending[:3])} not yet done)" if state.pending else ""
        raise KpkiError(
            f"rotate-ca {ca} --stage {stage}: the folder is at '{state.meaning}'{pending}; "
            f"run --stage {state.next or 'trust'} first"
        )
    if stage == "trust" and state.phase not in ("idle", "trust", "trusted", "done"):
        raise KpkiError(
            f"rotate-ca {ca} --stage trust: the folder is at '{state.meaning}'; "
            f"run --stage {state.next} to finish this rotation first"
        )


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
    lines = [f"# per host ('rotate-ca {stage.ca} --stage {stage.stage} --host HOST' installs):"]
    for change in found:
        lines.append(f"#   {change.host}: " + ", ".join(src for src, _p, _m in change.files))
    lines.append("# restarts, in this order (reload behaviour from the Kubernetes reference):")
    lines += [f"#  {line}" for line in deploy_rotation.restart_lines(found)]
    return "\n".join(lines) + "\n"
