"""`sign CSR|DIR... [--out DIR] [--kubeadm] [--dry-run]`: certificates for keys made elsewhere.

Each CSR is mapped to one step of the recipe by its file name, reviewed against that row
(checks/csr_policy.py: one line per violation) and, when every CSR passes, signed by the runner
with the row's own `openssl x509 -req ... -extfile ... -extensions ...` command, logged in
DIR/commands.sh. One refused CSR and nothing is signed: the folder is left as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.cli.common import add_out_option, add_recipe_options, load_plan, out_dir

if TYPE_CHECKING:
    from kpki_openssl.plan.signing import Target
    from kpki_openssl.plan.steps import Plan

REFUSED_EXIT = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Sign each CSR (or every *.csr in a folder) with the CA of the recipe step "
        "its file name names, using the same openssl x509 -req -extfile command as run, after "
        "checking that it asks for exactly what that step gives: a self-signature that "
        "verifies, the recipe's key type, a key no CA or other step holds, the exact CN and O, "
        "the exact SANs (none for clients, no email or URI), no CA:TRUE and no usage or "
        "extension the recipe does not give, SHA-256 or stronger. One line per violation; one "
        "refused CSR and nothing is signed. The CSR is never overwritten; the certificate's "
        "extensions come from the recipe, never from the CSR."
    )
    parser.add_argument("csrs", nargs="+", metavar="CSR|DIR", help="CSR files, or folders of them")
    parser.add_argument("--dry-run", action="store_true", help="print the commands; write nothing")
    parser.add_argument(
        "--kubeadm",
        action="store_true",
        help="the CSRs are `kubeadm certs generate-csr` output: each NAME.csr is checked "
        "against the NAME.key beside it and each NAME.conf.csr against the NAME.conf beside it "
        "(its client-key-data must be the CSR's key); after signing, prints the commands that "
        "put each certificate in place there",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    add_recipe_options(parser)
    add_out_option(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from kpki_openssl.base.errors import InputError, KpkiError
    from kpki_openssl.base.messages import one_line
    from kpki_openssl.checks import csr_folder, csr_policy
    from kpki_openssl.checks.certinfo import read_regular
    from kpki_openssl.plan import signing

    plan = load_plan(args)
    out = out_dir(args)
    found = csr_files(args.csrs)
    targets: list[tuple[Target, Path]] = []
    seen: dict[str, Path] = {}
    for path, shown in found:
        target = signing.target_for(plan, shown)
        if target.step.name in seen:
            raise InputError(
                f"sign: {str(path)!r} and {str(seen[target.step.name])!r} are both CSRs of "
                f"step {target.step.name}; give one"
            )
        seen[target.step.name] = path
        targets.append((target, path))
    problems: list[str] = []
    pems: dict[str, bytes] = {}
    for target, path in targets:
        try:
            pems[target.step.name] = read_regular(path)
        except KpkiError as exc:  # a FIFO, a folder, a huge file: one line
            raise InputError(f"sign: {exc}") from None
    if args.kubeadm:
        from kpki_openssl.checks import kubeadm_pairs

        for target, path in targets:
            pem = pems[target.step.name]
            problems += [f"{path}: {p}" for p in kubeadm_pairs.check(target, path, pem)]
    taken = csr_folder.keys_in_folder(out, plan, skip=seen) if out.is_dir() else {}
    batch: dict[bytes, str] = {}
    todo: list[tuple[Target, str]] = []
    already: list[str] = []
    for target, path in targets:
        step = target.step
        pem = pems[step.name]
        violations = csr_policy.review(pem, csr_policy.allowed(step.spec), {**taken, **batch})
        problems += [f"{path} (step {step.name}): {v}" for v in violations]
        with contextlib.suppress(ValueError):  # not a CSR: already a violation
            batch[csr_policy.spki(csr_policy.load(pem).public_key())] = f"the CSR ({path})"
        if violations:
            continue
        here = csr_folder.state(out, step, pem, path) if out.is_dir() else csr_folder.State("free")
        if here.problem:
            problems.append(f"{path} (step {step.name}): {here.problem}")
        elif here.kind == csr_folder.SIGNED:
            already.append(step.name)
        else:
            source = "" if here.kind == csr_folder.IN_FOLDER else str(path.resolve())
            todo.append((target, source))
    if problems:
        for line in problems:
            sys.stderr.write(f"kpki-openssl: sign: {one_line(line, 1000)}\n")
        count = len({p.split(" (step ")[0] for p in problems})
        sys.stderr.write(
            f"kpki-openssl: error: sign: {count} CSR{'s' * (count != 1)} refused; nothing was "
            f"signed and {out} is as it was\n"
        )
        return REFUSED_EXIT
    for name in already:
        if not args.quiet:
            sys.stderr.write(f"skip  {name}: already signed from this CSR\n")
    to_sign = signing.sign_plan(plan, todo)
    finish = _finish(args, targets, out)
    if args.dry_run:
        return _dry_run(to_sign, finish)
    if not to_sign.steps:
        sys.stdout.write(f"{out}: nothing to sign ({len(already)} already signed)\n")
        code = 0
    else:
        code = _sign(args, plan, to_sign, out, len(already))
    if finish:
        sys.stdout.write("\nWhere the kubeadm files are, put each certificate in place:\n")
        sys.stdout.write("".join(f"  {line}\n" for line in finish))
    return code


def _finish(args: argparse.Namespace, targets: list, out: Path) -> list[str]:
    """--kubeadm: the commands that put each certificate beside kubeadm's files."""
    if not args.kubeadm:
        return []
    from kpki_openssl.checks import kubeadm_pairs

    return [line for target, path in targets for line in kubeadm_pairs.finish(target, path, out)]


def csr_files(items: list[str]) -> list[tuple[Path, str]]:
    """Each CSR file named, and every *.csr under each folder named: (path, the path the
    step is matched by: relative to the folder given, or as given)."""
    from kpki_openssl.base.errors import InputError

    out: list[tuple[Path, str]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.csr") if p.is_file() and not p.is_symlink())
            if not found:
                raise InputError(f"sign: folder {item!r} holds no *.csr file")
            out += [(p, p.relative_to(path).as_posix()) for p in found]
        elif path.is_file():
            out.append((path, path.as_posix()))
        else:
            raise InputError(f"sign: {item!r} is neither a CSR file nor a folder")
    return out


def _dry_run(plan: Plan, finish: list[str]) -> int:
    from kpki_openssl.base import console
    from kpki_openssl.base.trust_store_setting import PROLOGUE
    from kpki_openssl.plan import shell_text

    head = ["# dry run: nothing is written\n", PROLOGUE]
    tail = ["\n# then, where the kubeadm files are:\n", *(f"#   {ln}\n" for ln in finish)]
    console.show_script([*head, *shell_text.plan_parts(plan), *(tail if finish else [])])
    return 0


def _sign(args: argparse.Namespace, full: Plan, plan: Plan, out: Path, already: int) -> int:
    from kpki_openssl.base import console
    from kpki_openssl.base.folder_names import LOG_NAME
    from kpki_openssl.execute.runner import Runner
    from kpki_openssl.plan.shell_text import one_line

    words = ["sign", *args.csrs, "--recipe", args.recipe, *(f"--set={v}" for v in args.sets)]
    invocation = one_line(shlex.join(words))
    with console.run_progress(len(plan.steps), args.quiet) as progress:
        runner = Runner(out, report=progress.line, invocation=invocation)
        result = runner.run(plan, full.makers(), jobs=1, progress=progress)
    for step in plan.steps:
        if step.name in result.ran:
            sys.stdout.write(f"signed {step.spec.csr_file} -> {out / step.spec.cert_file}\n")
    sys.stdout.write(
        f"{out}: {len(result.ran)} signed, {already} already signed; commands logged in "
        f"{out / LOG_NAME}\n"
    )
    return result.exit_code
