"""One rotation stage of one CA (or key pair) as the folder stands: the one function `rotate-ca`
and `export --rotate-ca` both build a stage with. Reads the folder (rotation_state.py), writes
nothing; a stage out of order is refused in one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks import rotation_state
from kpki_openssl.plan import rotation
from kpki_openssl.plan.steps import Plan

# the phase the folder is at once each stage has run to its end
DONE = {"trust": "trusted", "switch": "switched", "remove": "done"}


@dataclass(frozen=True)
class Found:
    """Where CA `ca`'s rotation stands in the folder, and the phases of the other rotations
    (what their stages keep the shared files at)."""

    ca: str
    state: rotation_state.Status
    phases: dict[str, str]


def find(out: Path, full: Plan, ca: str) -> Found:
    """CA `ca`'s rotation in `out`; a name the recipe does not make is refused (exit 2), a
    folder without it (exit 1)."""
    keypair = rotation.is_keypair(full, ca)
    first = (
        rotation.key_files(full, ca).pair.key_file
        if keypair
        else rotation.files(full, ca).ca.cert_file  # not a CA of the recipe: one line, exit 2
    )
    if not (out / first).is_file():
        raise KpkiError(f"{out}: no {ca} here to rotate ('run all --out {out}' builds one)")
    states = rotation_state.all_status(out, full)
    phases = {n: s.text_phase for n, s in states.items() if n != ca}
    return Found(ca, states[ca], phases)


def stage(out: Path, full: Plan, found: Found, name: str | None = None) -> rotation.Stage:
    """The stage `name` (None: the next one) as the folder stands: where remove keeps the old
    files, which of them are there already, whether the new ones hold the old names yet."""
    state, ca = found.state, found.ca
    name = name or state.next or "trust"
    check_order(state, name, ca)
    aside = _aside(state)
    done = tuple(p for p in _old_files(full, ca) if aside and (out / aside / p).is_file())
    swapped = state.phase in ("remove", "done")  # the new one already holds the old names
    return rotation.stage_plan(full, ca, name, found.phases, aside, done, swapped)


def check_leaves(out: Path, full: Plan, found: Found, stage: rotation.Stage, certs=()) -> None:
    """Remove is refused while a certificate (in the folder, or one of `certs`) still chains to
    the old CA; once the new CA holds the old names there is nothing left to ask."""
    if stage.stage != "remove" or found.state.phase in ("remove", "done"):
        return
    if rotation.is_keypair(full, found.ca):
        return
    left = rotation_state.still_old(out, full, found.ca, [Path(c) for c in certs])
    if left:
        raise KpkiError(
            f"rotate-ca {found.ca} --stage remove: {left[0]} still chains to the old CA"
            + (f" (and {len(left) - 1} more)" if len(left) > 1 else "")
            + f"; run --stage switch first (or re-issue it from {stage.files.new.cert_file})"
        )


def check_order(state: rotation_state.Status, stage: str, ca: str) -> None:
    """A stage runs only after the one before it has finished."""
    before = {"switch": ("trusted", "switch", "switched"), "remove": ("switched", "remove", "done")}
    if stage in before and state.phase not in before[stage]:
        pending = f" ({', '.join(state.pending[:3])} not yet done)" if state.pending else ""
        raise KpkiError(
            f"rotate-ca {ca} --stage {stage}: the folder is at '{state.meaning}'{pending}; "
            f"run --stage {state.next or 'trust'} first"
        )
    if stage == "trust" and state.phase not in ("idle", "trust", "trusted", "done"):
        raise KpkiError(
            f"rotate-ca {ca} --stage trust: the folder is at '{state.meaning}'; "
            f"run --stage {state.next} to finish this rotation first"
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
