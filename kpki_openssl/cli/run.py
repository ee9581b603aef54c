"""`run all|STEP... [--dry-run] [--force [--new-keys]] [--replace-ca]`: execute the plan, or
print it and write nothing."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from kpki_openssl.execute.decide import RunOptions
    from kpki_openssl.plan.signing import SignStep
    from kpki_openssl.plan.steps import Plan

CHANGED_EXIT = 3  # the run finished, but built certificates differ from the recipe (left alone)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the plan's openssl commands in the output folder and log each one to "
        "DIR/commands.sh. It completes what is missing: an existing key is never replaced and a "
        "built certificate is never re-issued unless a flag says so. A certificate whose recipe "
        f"inputs changed is reported, not rebuilt, and the exit status is {CHANGED_EXIT}."
    )
    parser.add_argument("steps", nargs="+", metavar="STEP", help="'all' or step names (see 'list')")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print every command and generated file; write nothing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="re-issue the selected leaf certificates (new CSR and signature, same key)",
    )
    parser.add_argument(
        "--new-keys",
        action="store_true",
        help="with --force: make new keys for the re-issued leaf certificates",
    )
    parser.add_argument(
        "--replace-ca",
        action="store_true",
        help="make a NEW CA key and certificate (the old ones are kept in DIR/.kpki/replaced/) "
        "and re-issue every certificate it signs; everything holding the old ca.crt must be "
        "updated",
    )
    parser.add_argument(
        "--adopt-folder",
        action="store_true",
        help="write into --out even though it already holds files and is not a kpki-openssl "
        "folder (no .kpki/, none of the plan's files); refused without it",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--json",
        action="store_true",
        help="what the run did as JSON on stdout (with --dry-run: each step's argv and files)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        metavar="N",
        help="run up to N independent steps at once (default: the number of CPUs); "
        "the log and the output stay in plan order",
    )
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import itertools

    from kpki_openssl.base import console
    from kpki_openssl.base.errors import InputError
    from kpki_openssl.plan import shell_text
    from kpki_openssl.plan.steps import CertStep
    from kpki_openssl.recipe.validate import positive_int
    from kpki_openssl.teach.using_files import usage_lines

    if args.new_keys and not args.force:
        raise InputError("--new-keys: only together with --force (it re-keys re-issued leaves)")
    # checked before the dry run too: a bad value is refused whether or not it is used
    jobs = console.cpu_count() if args.jobs is None else positive_int("--jobs", args.jobs, 1024)
    full = load_plan(args)
    plan = full.select(args.steps)
    plan, waiting = leave_to_sign(plan, args)
    if args.replace_ca:
        if not any(isinstance(s, CertStep) and s.is_ca for s in plan.steps):
            raise InputError(
                f"--replace-ca: replaces the CAs among the selected steps, and "
                f"{' '.join(args.steps)} holds none; name the CA's step (e.g. run "
                f"{_signer_of(full, plan)} --replace-ca) or 'all'"
            )
        plan = full.select([s.name for s in plan.steps] + signed_by(full, plan))
    if args.force or args.replace_ca:  # files that embed a re-issued certificate, made again
        plan = full.select([s.name for s in plan.steps] + embedding(full, plan))
    usage = usage_lines(full, plan)
    out = out_dir(args)
    if args.dry_run and args.json:
        import json

        from kpki_openssl.plan.plan_json import plan_json

        sys.stdout.write(json.dumps({"dry_run": True, **plan_json(plan, actions=True)}) + "\n")
        return 0
    if args.dry_run:
        from kpki_openssl.base.trust_store_setting import NOTE

        if out.is_dir():
            parts: Iterable[str] = preview(plan, out, run_options(args))
        else:
            parts = shell_text.plan_parts(plan)
        tail = ["\n# ===== using the files =====\n" + "".join(f"# {ln}\n" for ln in usage)]
        head = ["# dry run: nothing is written\n"]
        head += [f"# waiting for {s.spec.csr_file}: {sign_hint(s)}\n" for s in waiting]
        end = ["\n" + NOTE]  # the document's commands lead; what run adds comes last
        console.show_script(itertools.chain(head, parts, tail if usage else [], end), fold=True)
        return 0
    from kpki_openssl.execute.command_log import LOG_NAME
    from kpki_openssl.execute.runner import Runner  # not before: a dry run runs nothing

    options = run_options(args)
    makers = full.makers()
    with console.run_progress(len(plan.steps), args.quiet) as progress:
        runner = Runner(out, report=progress.line, options=options, invocation=invocation(args))
        result = runner.run(plan, makers, jobs=jobs, progress=progress)
    for change in result.changed:
        sys.stderr.write(f"kpki-openssl: {change}\n")
    if args.json:
        import json

        doc = {"out": str(out), "recipe": plan.recipe, **result.as_json()}
        doc.update(exit_code=result.exit_code, log=str(out / LOG_NAME))
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return result.exit_code
    for ca in result.replaced:
        signed = [s.name for s in plan.steps if isinstance(s, CertStep) and ca in s.needs]
        old = (
            f"the old ones are in {result.saved[ca]}"
            if ca in result.saved
            else "there was no old key to keep"
            if ca not in result.resumed
            else f"no copy of the old key was found in {out}/.kpki/replaced/"
        )
        sys.stdout.write(
            f"replaced CA {ca}: new key and certificate ({old}); re-issued what it signs: "
            f"{', '.join(signed) or 'nothing'}. Anything that still holds the old CA "
            "certificate (kubeconfigs, kubelets, etcd) must get the new one, and certificates "
            "the old CA signed elsewhere no longer verify.\n"
        )
    for ca in result.resumed:
        old = (
            f"the old CA's files are in {result.saved[ca]}"
            if ca in result.saved
            else f"no copy of the old CA key was found in {out}/.kpki/replaced/"
        )
        sys.stdout.write(
            f"finished the interrupted --replace-ca of {ca}: every certificate it signs is "
            f"re-issued under the new CA; {old}\n"
        )
    for step in waiting:
        sys.stdout.write(f"waiting for {step.spec.csr_file}: {sign_hint(step)}\n")
    changed = f", {len(result.changed)} changed (left alone)" if result.changed else ""
    sys.stdout.write(
        f"{out}: {len(result.ran)} steps run, {len(result.skipped)} skipped (already complete)"
        f"{changed}; commands logged in {out / LOG_NAME}\n"
    )
    if usage:
        sys.stdout.write(f"\nUsing the files (in {out}):\n" + "".join(f"{ln}\n" for ln in usage))
    return result.exit_code


def leave_to_sign(plan: Plan, args: argparse.Namespace) -> tuple[Plan, tuple[SignStep, ...]]:
    """node_keys=on-node: the per-node certificates come from `sign`; run makes no key, CSR or
    certificate for them. Named alone, such a step is refused with the command that makes it."""
    from dataclasses import replace

    from kpki_openssl.base.errors import InputError
    from kpki_openssl.plan.signing import waiting

    left = waiting(plan)
    named = [s for s in left if s.name in args.steps]
    if named:
        raise InputError(f"run {named[0].name}: {sign_hint(named[0])}")
    names = {s.name for s in left}
    return replace(plan, steps=tuple(s for s in plan.steps if s.name not in names)), left


def sign_hint(step: SignStep) -> str:
    """What makes a step whose key stays on its node."""
    node = step.spec.for_each[1] if step.spec.for_each else "its node"
    return (
        f"the key stays on {node} (node_keys=on-node): run 'export --node {node}' there, then "
        f"'sign {step.spec.csr_file}' here"
    )


def run_options(args: argparse.Namespace) -> RunOptions:
    from kpki_openssl.execute.decide import RunOptions

    return RunOptions(
        force=args.force,
        new_keys=args.new_keys,
        replace_ca=args.replace_ca,
        adopt_folder=args.adopt_folder,
    )


def preview(plan: Plan, out: Path, options: RunOptions) -> Iterable[str]:
    """Dry-run in a folder that already holds files: the whole plan still, every command, each
    step headed by a comment saying what `run` would do with it there."""
    from kpki_openssl.execute.runner import Runner
    from kpki_openssl.plan import shell_text

    decided = Runner(out, options=options).preview(plan)
    todo = sum(1 for _step, d in decided if d.kind in ("build", "again"))
    refused = [step.name for step, d in decided if d.kind == "refuse"]
    stop = f"; it would refuse {', '.join(refused)} and stop there" if refused else ""
    yield (
        f"# in {shell_text.one_line(str(out))}: run would do {todo} of these steps and leave "
        f"{len(decided) - todo - len(refused)} as they are{stop}; every step's commands are "
        "shown\n"
    )
    yield from shell_text.plan_parts(plan, comments={s.name: d.comment() for s, d in decided})


def _signer_of(full: Plan, plan: Plan) -> str:
    """The CA step that signs the first selected certificate (the first CA when none does)."""
    from kpki_openssl.plan.steps import CertStep

    cas = [s.name for s in full.steps if isinstance(s, CertStep) and s.is_ca]
    for step in plan.steps:
        signer = next((n for n in step.needs if n in cas), None)
        if signer:
            return signer
    return cas[0] if cas else "CA"


def signed_by(full: Plan, plan: Plan) -> list[str]:
    """Every step signed (directly or not) by a CA step of `plan`: re-issued with --replace-ca."""
    from kpki_openssl.plan.steps import CertStep

    cas = {s.name for s in plan.steps if isinstance(s, CertStep) and s.is_ca}
    out: list[str] = []
    for step in full.steps:
        if set(step.needs) & cas:
            out.append(step.name)
            if isinstance(step, CertStep) and step.is_ca:
                cas.add(step.name)
    return out


def embedding(full: Plan, plan: Plan) -> list[str]:
    """Kubeconfigs that embed one of `plan`'s certificates: made again when they are."""
    from kpki_openssl.plan.steps import KubeconfigStep

    chosen = {s.name for s in plan.steps}
    return [s.name for s in full.steps if isinstance(s, KubeconfigStep) and set(s.needs) & chosen]


def invocation(args: argparse.Namespace, command: str = "run") -> str:
    """The command as typed, for the log's run header (one line, quoted)."""
    parts = [command, *args.steps]
    parts += [f"--{flag.replace('_', '-')}" for flag in ("force", "new_keys", "replace_ca")
              if getattr(args, flag, False)]  # fmt: skip
    parts += ["--recipe", args.recipe, *(f"--set={v}" for v in args.sets)]
    from kpki_openssl.plan.shell_text import one_line

    return one_line(shlex.join(parts))
