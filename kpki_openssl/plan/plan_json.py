"""The plan as JSON data: `list --json` (each step, what it reads and writes) and `run --dry-run
--json` (each step's commands as argv lists and the files it writes, with their text). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kpki_openssl.plan.steps import CertStep, Command, Plan, Step


def step_json(step: Step, actions: bool = False) -> dict[str, Any]:
    """One step: its name, kind, title, signer, the files it reads and writes (and, with
    `actions`, every command's argv and every file it writes itself)."""
    item: dict[str, Any] = {
        "name": step.name,
        "kind": step.kind,
        "title": " ".join(step.title.split()),
        "signed_by": step.signer.name if isinstance(step, CertStep) and step.signer else None,
        "needs": list(step.needs),
        "reads": list(step.reads),
        "writes": list(step.writes),
    }
    if actions:
        item["actions"] = [
            {"argv": list(a.argv)}
            if isinstance(a, Command)
            else {"write": a.path, "mode": f"{a.mode:04o}", "content": a.content}
            for a in step.actions
        ]
    return item


def plan_json(plan: Plan, actions: bool = False) -> dict[str, Any]:
    """The whole plan: recipe, variables (lists as lists) and every step in order."""
    values = {
        k: (list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v)
        for k, v in plan.values.items()
    }
    return {
        "recipe": plan.recipe,
        "variables": values,
        "steps": [step_json(s, actions) for s in plan.steps],
    }
