"""Where one CA's (or key pair's) rotation stands in a folder, and the plan of a stage to run
there: the one place `rotate-ca`, `export --rotate-ca` and `walkthrough --rotate-ca` work it out
(read-only).

The folder alone decides (checks/rotation_state.py): a stage runs only after the one before it
has finished; remove copies the old CA's files aside once, never twice, and a remove resumed
after a kill (the new CA already under the old names) never copies the new files in place
again; remove is refused while a certificate still chains to the old CA.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks import rotation_state
from kpki_openssl.plan import rotation
from kpki_openssl.plan.steps import Plan

# the phase the folder is at once each stage has run to its end
DONE = {"trust": "trusted", "switch": "switched", "remove": "done"}


@dataclass(frozen=True)
class Position:
    """One rotation as the folder shows it, with the other rotations' text phases."""

    ca: str
    state: rotation_state.Status
    phases: dict[str, str]  # every other CA's text phase (their files keep their state)
    keypair: bool


def check_name(full: Plan, ca: str) -> bool:
    """Whether `ca` is a key pair; a name that is neither a CA nor a key pair of the recipe is
    refused (one line naming the known ones, exit 2)."""
    keypair = rotation.is_keypair(full, ca)
    if not keypair:
        rotation.files(full, ca)
    return keypair


def position(out: Path, full: Plan, ca: str) -> Position:
    """Where `ca`'s rotation stands in `out`; refused when the folder does not hold it."""
    keypair = check_name(full, ca)
    first = (
        rotation.key_files(full, ca).pair.key_file
        if keypair
        else rotation.files(full, ca).ca.cert_file
    )
    if not (out / first).is_file():
        raise KpkiError(f"{out}: no {ca} here to rotate ('run all --out {out}' builds one)")
    states = rotation_state.all_status(out, full)
    phases = {n: s.text_phase for n, s in states.items() if n != ca}
    return Position(ca, states[ca], phases, keypair)


def stage(
    out: Path, full: Plan, where: Position, name: str, command: str = "rotate-ca"
) -> rotation.Stage:
    """The plan of stage `name` as the folder stands; refused (the message begins with
    `command`) when the stage before it has not finished."""
    check_order(where.state, name, where.ca, command)
    aside = _aside(where.state)
    done = tuple(p for p in _old_files(full, where.ca) if aside and (out / aside / p).is_file())
    swapped = where.state.phase in ("remove", "done")  # the new one already holds the old names
    return rotation.stage_plan(full, where.ca, name, where.phases, aside, done, swapped)


def refuse_old_leaves(
    out: Path,
    full: Plan,
    where: Position,
    stage: rotation.Stage,
    given: Iterable[Path] = (),
    command: str = "rotate-ca",
) -> None:
    """remove is refused while a certificate in the folder (or given) still chains to the old
    CA."""
    if stage.stage != "remove" or where.state.phase in ("remove", "done") or where.keypair:
        return
    left = rotation_state.still_old(out, full, where.ca, given)
    if left:
        raise KpkiError(
            f"{command} {where.ca} --stage remove: {left[0]} still chains to the old CA"
            + (f" (and {len(left) - 1} more)" if len(left) > 1 else "")
            + f"; run --stage switch first (or re-issue it from {stage.files.new.cert_file})"
        )


def _aside(state: rotation_state.Status) -> str:
    """Where remove copies the old CA's files, or '' when they are there already."""
    if not state.aside or state.phase == "remove":
        return ""
    return state.aside if state.aside.startswith(rotation.REPLACED_DIR) else ""


def _old_files(full: Plan, ca: str) -> tuple[str, ...]:
    if rotation.is_keypair(full, ca):
        pair = rotation.key_files(full, ca).pair
        return (pair.key_file, pair.pub_file)
    spec = rotation.files(full, ca).ca
    return tuple(p for p in (spec.cnf_file, spec.key_file, spec.csr_file, spec.cert_file) if p)


def check_order(
    state: rotation_state.Status, stage: str, ca: str, command: str = "rotate-ca"
) -> None:
    """A stage runs only after the one before it has finished."""
    before = {"switch": ("trusted", "switch", "switched"), "remove": ("switched", "remove", "done")}
    if stage in before and state.phase not in before[stage]:
        pending = f" ({', '.join(state.pending[:3])} not yet done)" if state.pending else ""
        raise KpkiError(
            f"{command} {ca} --stage {stage}: the folder is at '{state.meaning}'{pending}; "
            f"run --stage {state.next or 'trust'} first"
        )
    if stage == "trust" and state.phase not in ("idle", "trust", "trusted", "done"):
        raise KpkiError(
            f"{command} {ca} --stage trust: the folder is at '{state.meaning}'; "
            f"run --stage {state.next} to finish this rotation first"
        )
