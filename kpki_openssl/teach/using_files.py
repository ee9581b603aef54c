"""How to use what the plan made: the document's curl call, kubectl, and which file goes to which
program. Shown after `run` and at the end of a dry run. Pure: text from the plan."""

from __future__ import annotations

import shlex

from kpki_openssl.plan.steps import Plan


def usage_lines(plan: Plan, shown: Plan | None = None) -> list[str]:
    """Lines for a person; empty when the steps in `shown` (default: all) make no such files."""
    shown = shown or plan
    names = {s.name for s in shown.steps}
    configs = [k for k in plan.kubeconfigs if k.file in names]
    files = [c for c in plan.components if c.file in names]
    if not configs and not files:
        return []
    lines = []
    if plan.kubeconfigs:
        first = plan.kubeconfigs[0]
        curl = ["curl", f"{first.server}/api/v1/pods"]
        curl += ["--key", first.key_file, "--cert", first.cert_file, "--cacert", first.ca_file]
        lines += [
            "The document's curl call, with the files in this folder (the host must resolve to "
            "the API server):",
            f"  {shlex.join(curl)}",
            "The same with kubectl:",
            f"  kubectl --kubeconfig {shlex.quote(first.file)} get pods",
        ]
    by_program: dict[str, list[str]] = {}
    for spec in plan.components:
        by_program.setdefault(spec.program or "other", []).append(spec.file)
    if by_program:
        lines.append("Component configuration (paths in them are where the files go on the hosts):")
        lines += [f"  {program}: {' '.join(found)}" for program, found in by_program.items()]
        lines.append("  a flags file is one --flag=value a line: etcd $(grep -v '^#' FILE) ...")
    if any(spec.hosts for spec in plan.components):
        lines.append(
            "Which file goes to which host: kpki-openssl hosts; the install commands for one "
            "host: kpki-openssl export --host HOST"
        )
    return lines
