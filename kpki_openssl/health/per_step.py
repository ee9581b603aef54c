"""What is wrong with one step, for the walkthrough: lint's findings for its certificate (from
the recipe alone) and verify's problems with the files it made (read back with openssl).

With the as-written recipe this is the lesson: each certificate of the document, as it comes out,
and what a cluster would make of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from kpki_openssl.health.lint import lint
from kpki_openssl.health.verify import verify
from kpki_openssl.plan import CertStep, Plan, Step
from kpki_openssl.recipe import Recipe

StepChecker = Callable[[Step], "list[str]"]


def _signers(plan: Plan, step: Step) -> list[str]:
    """The step and every CA above it, so verify can check the chain."""
    by_name = {c.name: c for c in plan.certs}
    names = [step.name]
    spec = step.spec if isinstance(step, CertStep) else None
    while spec is not None and spec.ca and spec.ca in by_name:
        names.append(spec.ca)
        spec = by_name[spec.ca]
    return names


def checker(recipe: Recipe, plan: Plan, out: Path) -> StepChecker:
    """A function giving, for a step that has run, one line per problem ([] when all is well)."""
    findings: dict[str, list[str]] = {}
    for finding in lint(recipe, plan.values):
        findings.setdefault(finding.where, []).append(f"lint: {finding.check}: {finding.problem}")

    def check(step: Step) -> list[str]:
        lines = list(findings.get(step.name, []))
        if isinstance(step, CertStep) and (out / step.spec.cert_file).exists():
            own = set(step.writes)
            report = verify(out, plan.select(_signers(plan, step)), datetime.now(timezone.utc))
            lines += [f"verify: {c.line()}" for c in report.problems if c.file in own]
        return lines

    return check
