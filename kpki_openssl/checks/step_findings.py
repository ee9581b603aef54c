"""What is wrong with one step, for the walkthrough: lint's findings for its row (from the
recipe alone), verify's problems with the certificate it made (read back with openssl), and, for
a kubeconfig or a configuration file, the files it names that are not in the folder.

Each check looks at that step only: its certificate and the CAs above it (to check the chain),
never the whole folder, so a walkthrough of N steps reads N certificates, not N x N.
With the as-written recipe this is the lesson: each certificate of the document, as it comes
out, and what a cluster would make of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from kpki_openssl.checks.lint import lint
from kpki_openssl.checks.verify import verify
from kpki_openssl.plan.steps import CertStep, KeyPairStep, Plan, Step, WriteFile
from kpki_openssl.recipe.model import Recipe

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


def step_view(plan: Plan, step: Step) -> Plan:
    """The plan narrowed to this certificate and its CAs (its views follow its steps, so
    verify reads only these certificates, and no kubeconfig)."""
    return plan.select(_signers(plan, step))


def missing_files(step: Step, out: Path, makers: Mapping[str, str]) -> list[str]:
    """Files a generated file names (admin.crt in admin.kubeconfig) that the folder lacks."""
    if isinstance(step, (CertStep, KeyPairStep)):
        return []
    texts = [a.content for a in step.actions if isinstance(a, WriteFile)]
    lines = []
    for made, maker in makers.items():
        if maker == step.name or not made.endswith((".crt", ".key", ".pub")):
            continue
        name = made.rsplit("/", 1)[-1]
        pattern = re.compile(r"(?<![\w.-])" + re.escape(name) + r"(?![\w.-])")
        if any(pattern.search(t) for t in texts) and not (out / made).exists():
            lines.append(f"files: {step.name} names {name}, which is not in the folder "
                         f"(step {maker} has not made it)")  # fmt: skip
    return lines


def checker(
    recipe: Recipe, plan: Plan, out: Path, makers: Mapping[str, str] | None = None
) -> StepChecker:
    """A function giving, for a step that has run, one line per problem ([] when all is well)."""
    findings: dict[str, list[str]] = {}
    for finding in lint(recipe, plan.values):
        findings.setdefault(finding.where, []).append(f"lint: {finding.check}: {finding.problem}")
    makers = makers or {}
    verbatim = {c.file for c in plan.components if c.format == "verbatim"}

    def check(step: Step) -> list[str]:
        lines = list(findings.get(step.name, []))
        if isinstance(step, CertStep) and (out / step.spec.cert_file).exists():
            own = set(step.writes)
            report = verify(
                out, step_view(plan, step), datetime.now(timezone.utc), kubeconfigs=False
            )
            lines += [f"verify: {c.line()}" for c in report.problems if c.file in own]
        lines += missing_files(step, out, makers)
        if step.name in verbatim:  # the document's own kubeconfig: what kubectl makes of it
            from kpki_openssl.checks.kubectl_load import kubectl_refusals

            lines += list(kubectl_refusals(plan.select([step.name])).values())
        return lines

    return check
