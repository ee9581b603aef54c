"""`run all|STEP... [--dry-run]`: execute the plan, or print it and write nothing."""

from __future__ import annotations

import argparse
import sys

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="build the PKI (or named steps) in the output folder",
        description="Run the plan's openssl commands in the output folder and log each one to "
        "DIR/commands.sh. Existing keys are never replaced; steps whose files all exist are "
        "skipped.",
    )
    parser.add_argument("steps", nargs="+", metavar="STEP", help="'all' or step names (see 'list')")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print every command and generated file; write nothing",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
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

    from kpki_openssl import console, shell
    from kpki_openssl.usage import usage_lines
    from kpki_openssl.validate import positive_int

    full = load_plan(args)
    plan = full.select(args.steps)
    usage = usage_lines(full, plan)
    if args.dry_run:
        tail = ["\n# ===== using the files =====\n" + "".join(f"# {ln}\n" for ln in usage)]
        console.show_script(
            itertools.chain(
                ["# dry run: nothing is written\n"], shell.plan_parts(plan), tail if usage else []
            )
        )
        return 0
    from kpki_openssl.runner import LOG_NAME, Runner  # plumbum and threads: not for dry-run

    jobs = console.cpu_count() if args.jobs is None else positive_int("--jobs", args.jobs, 1024)
    out = out_dir(args)
    makers = {path: step.name for step in full.steps for path in step.writes}
    with console.run_progress(len(plan.steps), args.quiet) as progress:
        runner = Runner(out, report=progress.line)
        result = runner.run(plan, makers, jobs=jobs, progress=progress)
    sys.stdout.write(
        f"{out}: {len(result.ran)} steps run, {len(result.skipped)} skipped (already complete); "
        f"commands logged in {out / LOG_NAME}\n"
    )
    if usage:
        sys.stdout.write(f"\nUsing the files (in {out}):\n" + "".join(f"{ln}\n" for ln in usage))
    return 0
