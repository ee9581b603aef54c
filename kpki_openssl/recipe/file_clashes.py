"""Two rows of a recipe that would make the same file, or a file the tool keeps for itself.

Why: a component or kubeconfig whose `file:` is another row's key, certificate or the command
log would overwrite it at run time (the later step wins, silently). The plan knows every file
each step writes, so such a recipe is refused before anything runs, naming both steps.
"""

from __future__ import annotations

from typing import Any

from kpki_openssl.base.errors import InputError

LOG_NAME = "commands.sh"  # execute.command_log.LOG_NAME: loading a plan imports no execute
META_DIR = ".kpki"  # execute.folder.META_DIR


def check(plan: Any) -> None:
    """Refuse the plan when two steps write one file, when a step writes the log, the
    bookkeeping folder or anything in it, or when one step's file is another's folder."""
    owner: dict[str, str] = {}
    for step in plan.steps:
        for path in step.writes:
            first = path.split("/", 1)[0]
            if path == LOG_NAME or first == META_DIR:
                what = "the command log" if path == LOG_NAME else "the tool's bookkeeping folder"
                raise InputError(
                    f"step {step.name}: its file {path!r} is {what} ({first}); "
                    "rename the row's file"
                )
            other = owner.setdefault(path, step.name)
            if other != step.name:
                raise InputError(
                    f"file {path!r}: made by step {other!r} and by step {step.name!r}; "
                    "each file must come from one row (rename one of them)"
                )
    for path, name in owner.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder in owner:
                raise InputError(
                    f"file {path!r} of step {name!r} would sit in {folder!r}, a file of step "
                    f"{owner[folder]!r}; rename one of them"
                )
