"""Two recipes' plans step by step, as unified diffs of their shell text: the document as
written against the corrected recipe is the lesson (`compare --against as-written`).

Pure: both plans are built from data; the text comes from shell.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpki_openssl import shell
from kpki_openssl.plan import Plan, Step


@dataclass(frozen=True)
class StepDiff:
    name: str
    diff: str  # '' when both recipes run the same commands and write the same files


def step_shell(step: Step) -> list[str]:
    return "".join(shell.action_text(a) for a in step.actions).splitlines(keepends=True)


def compare(
    before: Plan, after: Plan
) -> tuple[tuple[StepDiff, ...], tuple[str, ...], tuple[str, ...]]:
    """Per step in both plans (in `after`'s order): the diff from `before` to `after`; then the
    steps only `before` has and the steps only `after` has."""
    old = {s.name: s for s in before.steps}
    new_names = {s.name for s in after.steps}
    diffs = []
    for step in after.steps:
        if step.name not in old:
            continue
        lines = difflib.unified_diff(
            step_shell(old[step.name]),
            step_shell(step),
            fromfile=f"{before.recipe}/{step.name}",
            tofile=f"{after.recipe}/{step.name}",
            n=1,
        )
        diffs.append(StepDiff(step.name, "".join(lines)))
    only_before = tuple(s.name for s in before.steps if s.name not in new_names)
    only_after = tuple(s.name for s in after.steps if s.name not in old)
    return tuple(diffs), only_before, only_after


def compare_text(
    before: Plan, after: Plan, findings: Mapping[str, Sequence[str]] | None = None
) -> str:
    """The diffs as text; `findings` (step -> lint lines for `before`) follow each step's diff."""
    diffs, only_before, only_after = compare(before, after)
    findings = findings or {}
    out = [f"# {before.recipe} -> {after.recipe}: what changes, step by step\n"]
    for item in diffs:
        if item.diff:
            out.append("\n" + item.diff)
        else:
            out.append(f"\n# {item.name}: the same commands in both\n")
        for line in findings.get(item.name, ()):
            out.append(f"# lint {before.recipe}: {line}\n")
    if only_before:
        out.append(f"\n# only in {before.recipe}: {' '.join(only_before)}\n")
    if only_after:
        out.append(f"\n# only in {after.recipe}: {' '.join(only_after)}\n")
    return "".join(out)
