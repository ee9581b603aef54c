"""Two recipes' plans step by step, as unified diffs of their shell text: the document as
written against the corrected recipe is the lesson (`compare --against as-written`).

Pure: both plans are built from data; the text comes from shell_text.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpki_openssl.plan import shell_text
from kpki_openssl.plan.steps import CertStep, Plan, Step, WriteFile


@dataclass(frozen=True)
class StepDiff:
    name: str  # the step in the `before` plan
    diff: str  # '' when both recipes run the same commands and write the same files
    ours: str = ""  # its counterpart in the `after` plan, when named differently


def step_shell(step: Step) -> list[str]:
    return "".join(shell_text.action_text(a) for a in step.actions).splitlines(keepends=True)


_NAMED = re.compile(r"[\w.-]+\.(?:crt|key|pem|cr)\b")


def _named_files(step: Step) -> set[str]:
    """The certificate and key names a generated file mentions (admin.crt, ca.pem, ...)."""
    text = "".join(a.content for a in step.actions if isinstance(a, WriteFile))
    return {m.rsplit(".", 1)[0] for m in _NAMED.findall(text)}  # stems: ca.pem ~ ca.crt


def counterparts(before: Plan, after: Plan) -> dict[str, str]:
    """`before`'s step name -> `after`'s step for the same thing: the same name, or, for a file
    the two recipes name differently (the document's kube-config.yaml, our admin.kubeconfig),
    the file of `after` that names most of the same certificates and keys."""
    names = {s.name for s in after.steps}
    pairs = {s.name: s.name for s in before.steps if s.name in names}
    free = [s for s in after.steps if s.name not in pairs.values() and not isinstance(s, CertStep)]
    for step in before.steps:
        if step.name in pairs or isinstance(step, CertStep):
            continue
        mine = _named_files(step)
        scored = [(len(mine & _named_files(o)), -i, o.name) for i, o in enumerate(free)]
        best = max(scored, default=(0, 0, ""))
        if best[0] > 0:
            pairs[step.name] = best[2]
            free = [o for o in free if o.name != best[2]]
    return pairs


def compare(
    before: Plan, after: Plan
) -> tuple[tuple[StepDiff, ...], tuple[str, ...], tuple[str, ...]]:
    """Per pair of steps (in `after`'s order; see counterparts): the diff from `before` to
    `after`; then the steps only `before` has and the steps only `after` has."""
    old = {s.name: s for s in before.steps}
    pairs = counterparts(before, after)
    back = {new: old_name for old_name, new in pairs.items()}
    diffs = []
    for step in after.steps:
        if step.name not in back:
            continue
        mine = back[step.name]
        lines = difflib.unified_diff(
            step_shell(old[mine]),
            step_shell(step),
            fromfile=f"{before.recipe}/{mine}",
            tofile=f"{after.recipe}/{step.name}",
            n=1,
        )
        diffs.append(StepDiff(mine, "".join(lines), step.name))
    only_before = tuple(s.name for s in before.steps if s.name not in pairs)
    only_after = tuple(s.name for s in after.steps if s.name not in back)
    return tuple(diffs), only_before, only_after


def compare_text(
    before: Plan, after: Plan, findings: Mapping[str, Sequence[str]] | None = None
) -> str:
    """The diffs as text; `findings` (step -> lint lines for `before`) follow each step's diff."""
    diffs, only_before, only_after = compare(before, after)
    findings = findings or {}
    out = [f"# {before.recipe} -> {after.recipe}: what changes, step by step\n"]
    shown: set[tuple[str, str]] = set()  # a departure every certificate shares: said once
    for item in diffs:
        if item.ours and item.ours != item.name:
            out.append(f"\n# {before.recipe}'s {item.name} beside {after.recipe}'s {item.ours}")
        if item.diff:
            out.append("\n" + item.diff)
        else:
            out.append(f"\n# {item.name}: the same commands in both\n")
        for line in findings.get(item.name, ()):
            out.append(
                f"# {line}\n" if line.startswith("kubectl") else f"# lint {before.recipe}: {line}\n"
            )
        for dep in _departures(after, item.ours or item.name):
            if (dep.what, dep.why) not in shown:
                shown.add((dep.what, dep.why))
                out.append(f"# {after.recipe} departs: {dep.what}: {' '.join(dep.why.split())}\n")
    if only_before:
        out.append(f"\n# only in {before.recipe}: {' '.join(only_before)}\n")
    if only_after:
        out.append(
            f"\n# only in {after.recipe} (the document shows no such file): "
            f"{' '.join(only_after)}\n"
        )
    return "".join(out)


def _departures(plan: Plan, name: str) -> tuple:
    """The departures of the recipe row behind a step (certificate, kubeconfig or file)."""
    rows = (*plan.certs, *plan.kubeconfigs, *plan.components)
    row = next((r for r in rows if getattr(r, "name", getattr(r, "file", None)) == name), None)
    if row is None:
        row = next((r for r in rows if getattr(r, "file", None) == name), None)
    return tuple(getattr(row, "departures", ()))
