"""What `run` would do with each step, from a snapshot of the folder: pure, like pip-tools' diff.

`decide_all` looks at each step in plan order and says skip (built; maybe changed, with the field
and the flag that fixes it), build (not built: the actions still missing) or again (built, made
anew because a flag or a re-made CA says so). The runner executes these decisions; the dry run
prints them beside every step's commands; the walkthrough shows them. No I/O here: the snapshot
(snapshot.py) holds everything read from the folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.execute import record
from kpki_openssl.plan.steps import Action, CertStep, Command, Plan, Step


@dataclass(frozen=True)
class FileState:
    """One path of the plan as found in the folder (never followed if it is a link)."""

    kind: str  # "file", "dir", "link", "other"
    digest: str = ""  # of the bytes, for keys (their identity in the build record)
    pem_key: bool = False  # a complete PEM private key
    key: str = ""  # KeySpec.words of that key ('rsa 2048', 'ecdsa P-256'), '' if unknown


@dataclass(frozen=True)
class Snapshot:
    """The folder as the decisions see it: the plan's paths, the build records, and the CAs of
    an interrupted --replace-ca (name -> digest of the CA key it replaced)."""

    files: Mapping[str, FileState]
    records: Mapping[str, record.Record]
    replacing: Mapping[str, str] = field(default_factory=dict)

    def exists(self, path: str) -> bool:
        return path in self.files

    def is_file(self, path: str) -> bool:
        state = self.files.get(path)
        return state is not None and state.kind == "file"


@dataclass(frozen=True)
class RunOptions:
    """What a run may replace: nothing by default."""

    force: bool = False  # re-issue built leaf certificates (their keys kept)
    new_keys: bool = False  # with force: new leaf keys too
    replace_ca: bool = False  # a new CA key and certificate; re-issues what it signed
    adopt_folder: bool = False  # write into an existing folder that holds files not ours


@dataclass
class Changed:
    """A built step that differs from the plan, field by field, and the flag that fixes it."""

    step: str
    reasons: list[str]
    hint: str

    def __str__(self) -> str:
        return f"changed: {self.step} ({'; '.join(self.reasons)}) — {self.hint}"

    def as_json(self) -> dict:
        return {"step": self.step, "reasons": self.reasons, "hint": self.hint}


@dataclass(frozen=True)
class Decision:
    """What one step needs: "skip" (built; `change` says how it differs from the plan, if it
    does), "build" (not built: `actions` are what is missing) or "again" (built, made anew);
    for the dry run only, "refuse" (`reason`: what run would stop on)."""

    kind: str
    actions: tuple[Action, ...] = ()
    kept: tuple[str, ...] = ()  # existing keys the actions use instead of making new ones
    back_up_ca: bool = False  # a CA whose key is made anew: its old files are copied first
    replaces_ca: bool = False  # a CA made anew (--replace-ca, or finishing an interrupted one)
    change: Changed | None = None
    reason: str = ""  # "refuse" (the dry run only): why run would stop at this step

    def comment(self) -> str:
        """What `run` would do, for the dry run: one line."""
        if self.kind == "refuse":
            return f"# run would refuse it and stop: {self.reason}"
        if self.kind == "skip":
            if self.change:
                return f"# run would skip it: {self.change}"
            if self.replaces_ca:
                return "# run would skip it: the new CA of an interrupted --replace-ca is built"
            return "# run would skip it: already built"
        what = "make it again" if self.kind == "again" else "run it"
        if self.replaces_ca:
            what = "replace this CA (new key and certificate)"
        kept = f", keeping {', '.join(self.kept)} (a key is never replaced)" if self.kept else ""
        return f"# run would {what}{kept}"


def decide_all(
    plan: Plan, snap: Snapshot, options: RunOptions, preview: bool = False
) -> dict[str, Decision]:
    """Every step's decision, in plan order: a step whose CA (or embedded certificate) is made
    again in this run is made again too. `preview` (the dry run): a step run would refuse is
    decided "refuse", with the reason, instead of stopping here."""
    rebuilt: set[str] = set()
    out: dict[str, Decision] = {}
    for step in plan.steps:
        try:
            decision = decide(step, snap, options, rebuilt)
        except KpkiError as exc:
            if not preview:
                raise
            decision = Decision("refuse", reason=str(exc))
        if decision.kind == "again" or decision.replaces_ca:
            rebuilt.add(step.name)
        out[step.name] = decision
    return out


def decide(step: Step, snap: Snapshot, options: RunOptions, rebuilt: set[str]) -> Decision:
    """One step's decision (see decide_all)."""
    _refuse_odd_files(step, snap)
    is_ca = isinstance(step, CertStep) and step.is_ca
    resuming = is_ca and step.name in snap.replacing
    replacing = is_ca and (options.replace_ca or resuming)
    forced = replacing or (options.force and not is_ca) or bool(set(step.needs) & rebuilt)
    built = _built(step, snap)
    if built and not forced:
        return Decision("skip", change=change(step, snap))
    if _signed_from_csr(step, snap):  # its key is where the CSR was made: sign it again
        return _sign_again(step, options, built)
    key_files = step.key_files
    if replacing:
        old = snap.replacing.get(step.name)
        # finishing an interrupted replace: a key that is no longer the old one is the new one
        new_key = not (resuming and key_files and _digest(snap, key_files[0]) not in ("", old))
    else:
        new_key = forced and options.new_keys and not is_ca
    kept = tuple(p for p in key_files if not new_key and _usable_key(step, snap, p))
    if resuming and built and kept and _signed_with_this_key(step, snap):
        # the new CA of an interrupted --replace-ca is whole: only what it signs is left
        return Decision("skip", replaces_ca=True)
    wrong = _kept_key_mismatch(step, snap, kept)
    if wrong is not None:  # re-signing would keep a key the plan no longer asks for
        return Decision("skip", change=wrong)
    actions = tuple(
        a
        for a in step.actions
        if not (isinstance(a, Command) and a.private and set(a.writes) <= set(kept))
    )
    return Decision(
        "again" if built else "build",
        actions,
        kept,
        # the old key is still here (a resume too, when it stopped before the new key): its
        # files are copied aside, and the copy checked, before anything about the CA is written
        back_up_ca=replacing and new_key and any(snap.exists(p) for p in ca_files(step)),
        replaces_ca=replacing,
    )


def ca_files(step: Step) -> list[str]:
    """A CA step's files that --replace-ca copies aside: its key(s), then its certificate."""
    cert = [step.spec.cert_file] if isinstance(step, CertStep) else []
    return [*step.key_files, *cert]


def _signed_from_csr(step: Step, snap: Snapshot) -> bool:
    """A leaf `sign` made from a CSR whose key never was here, with that CSR still here."""
    return (
        isinstance(step, CertStep)
        and not step.is_ca
        and record.from_csr(snap.records.get(step.name))
        and snap.is_file(step.spec.csr_file)
    )


def _sign_again(step: Step, options: RunOptions, built: bool) -> Decision:
    """Re-sign the kept CSR (--force, a replaced CA): never a key or a CSR made here."""
    assert isinstance(step, CertStep)
    if options.new_keys:
        raise KpkiError(
            f"step {step.name}: its key was never here (signed from {step.spec.csr_file}); "
            "--new-keys cannot make it: have a new key and CSR made where it lives, then sign"
        )
    csr = step.spec.csr_file
    actions = tuple(
        a for a in step.actions if not (isinstance(a, Command) and (a.private or csr in a.writes))
    )
    return Decision("again" if built else "build", actions)


def _kept_key_mismatch(step: Step, snap: Snapshot, kept: tuple[str, ...]) -> Changed | None:
    planned = record.planned(step).get("key")
    for path in kept:
        found = snap.files[path].key
        if planned and found and found != planned:
            return Changed(
                step.name,
                [f"{path}: key type: {found} -> {planned}"],
                "use --force --new-keys to re-issue with a new key"
                if not (isinstance(step, CertStep) and step.is_ca)
                else "use --replace-ca to make a new CA",
            )
    return None


def _signed_with_this_key(step: Step, snap: Snapshot) -> bool:
    fields = snap.records.get(step.name, {})
    return bool(step.key_files) and fields.get(record.KEY_DIGEST) == _digest(
        snap, step.key_files[0]
    )


def _built(step: Step, snap: Snapshot) -> bool:
    """A certificate step is built when its certificate is a file (its key, CSR and .cnf may be
    missing); any other step when all its files are."""
    if isinstance(step, CertStep):
        return snap.is_file(step.spec.cert_file)
    return bool(step.writes) and all(snap.is_file(p) for p in step.writes)


def _refuse_odd_files(step: Step, snap: Snapshot) -> None:
    """A directory, link or device where the plan keeps a file is never used or replaced."""
    for path in step.writes:
        state = snap.files.get(path)
        if state is not None and state.kind != "file":
            what = {"dir": "a directory", "link": "a symbolic link"}.get(state.kind, "not a file")
            raise KpkiError(
                f"step {step.name}: {path} is {what}, not a file; it is never used or "
                "replaced: move it away"
            )


def _usable_key(step: Step, snap: Snapshot, path: str) -> bool:
    """An existing key to keep. One that is not a whole PEM key is refused, not replaced."""
    state = snap.files.get(path)
    if state is None:
        return False
    if not state.pem_key:
        raise KpkiError(
            f"step {step.name}: {path} exists but is not a complete PEM private key; "
            "it is never overwritten: move it away to make a new one"
        )
    return True


def _digest(snap: Snapshot, path: str | None) -> str:
    state = snap.files.get(path) if path else None
    return state.digest if state is not None else ""


def observed(step: Step, snap: Snapshot) -> record.Record:
    """The plan's record for the step, with what the folder holds now: its key's digest and
    type, and the signing CA's key digest."""
    now = record.planned(step)
    keys = step.key_files
    if keys and _digest(snap, keys[0]):
        now[record.KEY_DIGEST] = _digest(snap, keys[0])
    signer_key = step.signer_key_file if isinstance(step, CertStep) else None
    if signer_key and _digest(snap, signer_key):
        now[record.SIGNER_KEY_DIGEST] = _digest(snap, signer_key)
    return now


def change(step: Step, snap: Snapshot) -> Changed | None:
    """How a built step differs from the plan (None: it does not, or nothing was recorded)."""
    missing = [p for p in step.key_files if not snap.exists(p)]
    if missing and not record.from_csr(snap.records.get(step.name)):
        hint = (
            "use --replace-ca to make a new CA"
            if isinstance(step, CertStep) and step.is_ca
            else "use --force --new-keys to re-issue with a new key"
        )
        return Changed(step.name, [f"{', '.join(missing)} is missing"], hint)
    built = dict(snap.records.get(step.name, {}))
    keys = step.key_files
    key_state = snap.files.get(keys[0]) if keys else None
    if key_state is not None and key_state.key:
        built["key"] = key_state.key  # the key file itself says what it is
    diffs = record.differences(built, observed(step, snap))
    if not diffs:
        return None
    reasons = [str(d) for d in diffs if d.built != record.UNKNOWN]
    unknown = [record.label(d.field) for d in diffs if d.built == record.UNKNOWN]
    if unknown:
        reasons.append(f"{', '.join(unknown)}: not known from an older record, may differ")
    return Changed(step.name, reasons, record.hint(step, diffs))
