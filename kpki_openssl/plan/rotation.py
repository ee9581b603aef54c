"""CA rotation as plan steps: trust (new CA beside the old, bundles wherever something
verifies), switch (every leaf re-signed by the new CA with its kept key; the signer switched),
remove (the new CA takes the old one's file names; the old one's files go aside). Pure.

What the folder already holds (which CA each other rotation is at, where the old CA's files go
aside) is worked out by checks/rotation_state.py and handed in; nothing here reads a file.

File names, for a CA whose files are `ca.crt` and `ca.key`:
- `ca-new.{cnf,key,csr,crt}`: the new CA, made by the same three commands as the old one;
- `ca-bundle.crt`: old + new, what every verifier reads during the rotation;
- `ca-signer.crt`: a single-certificate copy for the controller manager's signer (its
  `--cluster-signing-cert-file` and `--client-ca-file` cannot be a bundle);
- after remove, `ca.crt` and `ca.key` are the new CA, and every file names them again as the
  recipe writes them: the trust files hold the new CA only.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.certlist import CertSpec, KeyPairSpec
from kpki_openssl.plan.components import ComponentFile
from kpki_openssl.plan.kubeconfig import KubeconfigSpec
from kpki_openssl.plan.steps import (
    Action,
    CertStep,
    Command,
    ComponentStep,
    KubeconfigStep,
    Plan,
    WriteFile,
    cert_step,
    component_step,
    keypair_step,
    kubeconfig_step,
    renew_step,
)

STAGES = ("trust", "switch", "remove")
REPLACED_DIR = ".kpki/replaced"  # where remove keeps the old CA's files, byte for byte

# flags that hand a CA to a signer: a single certificate, never a bundle
SIGNER_CERT_FLAGS = ("--cluster-signing-cert-file",)
SIGNER_KEY_FLAGS = ("--cluster-signing-key-file",)
# the controller manager's --client-ca-file: documented as one certificate (kubeadm#1350)
SINGLE_CERT_FLAGS = {"kube-controller-manager": ("--client-ca-file",)}

# the service-account key pair: the flags that verify tokens (repeatable: trust adds the new
# public key beside the old) and those that sign them (switch moves them to the new key)
SA_VERIFY_FLAGS = ("--service-account-key-file",)
SA_SIGN_FLAGS = ("--service-account-signing-key-file", "--service-account-private-key-file")

# restart order across the cluster: etcd members one at a time (quorum), then the apiservers,
# the scheduler, the controller manager, the kubelets (rolling), kube-proxy
RESTART_ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-scheduler",
    "kube-controller-manager",
    "kubelet",
    "kube-proxy",
)


@dataclass(frozen=True)
class FileStep:
    """A file made by a plain command (a bundle by `cat`, a copy by `cp` or `openssl x509`)."""

    name: str
    title: str
    explain: str
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    kind: ClassVar[str] = "rotation file"

    @property
    def writes(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(p for a in self.actions if isinstance(a, Command) for p in a.writes)
        )

    @property
    def reads(self) -> tuple[str, ...]:
        made: set[str] = set()
        out: list[str] = []
        for action in self.actions:
            if isinstance(action, Command):
                out.extend(p for p in action.reads if p not in made and p not in out)
                made.update(action.writes)
        return tuple(out)

    @property
    def key_files(self) -> tuple[str, ...]:
        return ()  # a copied key is a copy: never a key this step makes (it may be replaced)

    @property
    def needs(self) -> tuple[str, ...]:
        return ()

    def relation(self) -> str:
        return "a file of a CA rotation"


@dataclass(frozen=True)
class Files:
    """The file names of one CA's rotation."""

    ca: CertSpec
    new: CertSpec
    bundle: str
    signer: str

    @property
    def names(self) -> tuple[str, ...]:
        """Every file the rotation adds beside the recipe's (what remove leaves behind)."""
        new = self.new
        cnf = (new.cnf_file,) if new.cnf_file else ()
        return (*cnf, new.key_file, new.csr_file, new.cert_file, self.bundle, self.signer)


@dataclass(frozen=True)
class KeyFiles:
    """The file names of one bare key pair's rotation (the service-account keys)."""

    pair: KeyPairSpec
    new: KeyPairSpec

    @property
    def names(self) -> tuple[str, ...]:
        """Every file the rotation adds beside the recipe's (what remove leaves behind)."""
        return (self.new.key_file, self.new.pub_file)


def own_files(files: Files | KeyFiles) -> tuple[str, ...]:
    """The rotation's own files in the order remove deletes them: the new certificate (or
    public key) last, so that until it goes the folder reads as swapped, and a remove resumed
    after a kill finishes the deleting and never copies files that are gone."""
    last = files.new.cert_file if isinstance(files, Files) else files.new.pub_file
    return tuple(sorted(files.names, key=lambda p: p == last))


def is_keypair(plan: Plan, name: str) -> bool:
    """Whether `name` is a bare key pair of the recipe (rotated like a CA, without leaves)."""
    return any(k.name == name for k in plan.keypairs)


def key_files(plan: Plan, name: str) -> KeyFiles:
    """The rotation files of key pair `name`."""
    pair = next(k for k in plan.keypairs if k.name == name)
    new = replace(pair, name=f"{pair.name}-new", base=f"{pair.base}-new", title=f"new {pair.title}")
    return KeyFiles(pair, new)


def rotatable(plan: Plan) -> tuple[CertSpec, ...]:
    """The CAs a rotation can take: the self-signed CAs the recipe makes."""
    return tuple(c for c in plan.certs if c.is_ca and c.ca is None)


def files(plan: Plan, name: str) -> Files:
    """The rotation files of CA `name`; a name that is no self-signed CA is refused."""
    cas = {c.name: c for c in rotatable(plan)}
    if name not in cas:
        known = ", ".join([*cas, *(k.name for k in plan.keypairs)]) or "none"
        raise InputError(
            f"CA: {name!r} is not a self-signed CA or key pair of this recipe (known: {known})"
        )
    ca = cas[name]
    cnf_name = _sibling(ca.cnf_name, "-new") if ca.cnf == "file" and ca.cnf_name else ""
    bundle = f"{ca.base}-bundle.crt"
    new = replace(
        ca, name=f"{ca.name}-new", base=f"{ca.base}-new", cnf_name=cnf_name, title=f"new {ca.title}"
    )
    new = replace(
        new,
        explain=(
            f"The new CA of this rotation, made by the same three commands as {ca.name}: a new "
            f"key ({new.key_file}) and a self-signed certificate ({new.cert_file}) with the same "
            f"subject, extensions and validity. trust puts it beside {ca.cert_file} in {bundle} "
            "wherever a certificate is checked; switch signs every leaf with it; remove gives "
            f"it {ca.name}'s file names."
        ),
        departures=tuple(
            replace(d, **{k: _renamed(getattr(d, k), ca, new) for k in DEPARTURE_TEXTS})
            for d in ca.departures
        ),
    )
    return Files(ca, new, bundle, f"{ca.base}-signer.crt")


DEPARTURE_TEXTS = ("what", "document", "ours", "why")


def _renamed(text: str, old: CertSpec, new: CertSpec) -> str:
    """A teaching text of the old CA with the old CA's file names as the new one's (ca.key
    becomes ca-new.key; etcd-ca.key stays as it is)."""
    pairs = zip(
        (old.key_file, old.csr_file, old.cert_file, old.cnf_file),
        (new.key_file, new.csr_file, new.cert_file, new.cnf_file),
    )
    for before, after in pairs:
        text = re.sub(rf"(?<![\w.-]){re.escape(before)}(?![\w-])", after, text)
    return text


def _sibling(path: str, tail: str) -> str:
    stem, dot, ext = path.rpartition(".")
    return f"{stem}{tail}.{ext}" if dot else f"{path}{tail}"


def leaves(plan: Plan, name: str) -> tuple[CertStep, ...]:
    """The certificates CA `name` signs directly (what switch re-issues)."""
    return tuple(
        s
        for s in plan.steps
        if isinstance(s, CertStep) and s.signer is not None and s.signer.name == name
    )


# ----- what each file names at each phase -----


def _swap_tail(value: str, old: str, new: str) -> str | None:
    """`value` with its tail `old` (a folder path) changed to `new`, or None if it does not end
    so. /etc/kubernetes/pki/etcd/ca.crt ends with etcd/ca.crt, not only ca.crt: the caller
    passes the longest file a value names."""
    if value == old:
        return new
    if value.endswith("/" + old):
        return value[: -len(old)] + new
    return None


def _named(value: str, sources: tuple[str, ...]) -> str | None:
    """The plan file a value names: the longest one that is its tail."""
    best = None
    for source in sources:
        if (value == source or value.endswith("/" + source)) and (
            best is None or len(source) > len(best)
        ):
            best = source
    return best


def _flag_value(
    program: str,
    flag: str,
    value: str,
    sources: tuple[str, ...],
    rot: Mapping[str, tuple[Files, str]],
) -> str:
    """A flag's value with every rotating CA's file changed for its phase."""
    named = _named(value, sources)
    if named is None:
        return value
    for files_, phase in rot.values():
        ca = files_.ca
        if named == ca.cert_file:
            single = flag in SIGNER_CERT_FLAGS or flag in SINGLE_CERT_FLAGS.get(program, ())
            target = files_.signer if single else files_.bundle
            return _swap_tail(value, ca.cert_file, target) or value
        if named == ca.key_file and flag in SIGNER_KEY_FLAGS and phase == "switch":
            return _swap_tail(value, ca.key_file, files_.new.key_file) or value
    return value


def _tree(node: Any, sources: tuple[str, ...], rot: Mapping[str, tuple[Files, str]]) -> Any:
    if isinstance(node, str):
        return _flag_value("", "", node, sources, rot)
    if isinstance(node, list):
        return [_tree(x, sources, rot) for x in node]
    if isinstance(node, dict):
        return {k: _tree(v, sources, rot) for k, v in node.items()}
    return node


def component(
    spec: ComponentFile,
    sources: tuple[str, ...],
    rot: Mapping[str, tuple[Files, str]],
    keys: Mapping[str, tuple[KeyFiles, str]] | None = None,
) -> ComponentFile:
    """The component file as it stands with each rotating CA and key pair at its phase."""
    if not (rot or keys) or spec.format == "verbatim":
        return spec
    if spec.format == "flags":
        flags: list[tuple[str, str]] = []
        for flag, value in spec.flags:
            flags += _key_flags(flag, _flag_value(spec.program, flag, value, sources, rot),
                                sources, keys or {})  # fmt: skip
        return replace(spec, flags=tuple(flags))
    return replace(spec, data=_tree(spec.data, sources, rot))


def _key_flags(
    flag: str, value: str, sources: tuple[str, ...], keys: Mapping[str, tuple[KeyFiles, str]]
) -> list[tuple[str, str]]:
    """A flag as it stands with each rotating key pair at its phase: a verifying flag naming
    the public key is followed by the same flag naming the new one; from switch, a signing
    flag names the new private key."""
    named = _named(value, sources)
    for kf, phase in keys.values():
        pair, new = kf.pair, kf.new
        if flag in SA_VERIFY_FLAGS and named == pair.pub_file:
            return [(flag, value), (flag, _swap_tail(value, pair.pub_file, new.pub_file) or value)]
        if flag in SA_SIGN_FLAGS and named == pair.key_file and phase == "switch":
            return [(flag, _swap_tail(value, pair.key_file, new.key_file) or value)]
    return [(flag, value)]


def kubeconfig(spec: KubeconfigSpec, rot: Mapping[str, tuple[Files, str]]) -> KubeconfigSpec:
    """The kubeconfig with its CA data the bundle while its CA rotates."""
    for files_, _phase in rot.values():
        if spec.ca_file == files_.ca.cert_file:
            ca_path = _swap_tail(spec.ca_path, spec.ca_file, files_.bundle) or spec.ca_path
            if spec.ca_path == posixpath.basename(spec.ca_file):
                ca_path = posixpath.basename(files_.bundle)
            return replace(spec, ca_file=files_.bundle, ca_path=ca_path)
    return spec


def _rotating(plan: Plan, phases: Mapping[str, str]) -> dict[str, tuple[Files, str]]:
    return {
        n: (files(plan, n), p)
        for n, p in phases.items()
        if p in ("trust", "switch") and not is_keypair(plan, n)
    }


def _rotating_keys(plan: Plan, phases: Mapping[str, str]) -> dict[str, tuple[KeyFiles, str]]:
    return {
        n: (key_files(plan, n), p)
        for n, p in phases.items()
        if p in ("trust", "switch") and is_keypair(plan, n)
    }


def _sources(plan: Plan) -> tuple[str, ...]:
    return tuple(plan.makers())


def rewritten(plan: Plan, phases: Mapping[str, str]) -> tuple[Any, ...]:
    """The component and kubeconfig steps of the plan as they stand with each CA at its phase
    (`phases`: CA name -> "trust" or "switch"; a CA not named is as the recipe makes it)."""
    rot = _rotating(plan, phases)
    keys = _rotating_keys(plan, phases)
    sources = _sources(plan)
    certs = {c.name: c for c in plan.certs}
    out: list[Any] = []
    for step in plan.steps:
        if isinstance(step, ComponentStep):
            out.append(component_step(component(step.spec, sources, rot, keys)))
        elif isinstance(step, KubeconfigStep):
            out.append(kubeconfig_step(kubeconfig(step.spec, rot), certs))
    return tuple(out)


def _changed(plan: Plan, before: Mapping[str, str], after: Mapping[str, str]) -> tuple[Any, ...]:
    """The component and kubeconfig steps whose text differs between two sets of phases, or
    that embed a certificate the stage re-issues."""
    old = {s.name: s for s in rewritten(plan, before)}
    return tuple(s for s in rewritten(plan, after) if s.actions != old[s.name].actions)


# ----- the stages -----


@dataclass(frozen=True)
class Stage:
    """One stage of one CA's rotation: its plan, and what it says about itself."""

    ca: str
    stage: str
    plan: Plan
    files: Files | KeyFiles
    notes: tuple[str, ...] = ()


def stage_plan(
    plan: Plan,
    name: str,
    stage: str,
    others: Mapping[str, str] | None = None,
    aside: str = "",
    aside_done: tuple[str, ...] = (),
    swapped: bool = False,
) -> Stage:
    """The steps of `stage` for CA `name`. `others`: the phase of every other CA that is
    rotating (their files keep their state); `aside`: the folder under .kpki/replaced the old
    CA's files are copied to by remove ('' once they are there); `aside_done`: those of its files
    already there (never copied again: by then the name may hold the new CA's); `swapped`: the
    new CA (or key pair) already holds the old names (a remove resumed after a kill)."""
    if stage not in STAGES:
        raise InputError(f"--stage: {stage!r} is not one of {', '.join(STAGES)}")
    if is_keypair(plan, name):
        return _key_stage_plan(plan, name, stage, others or {}, aside, aside_done, swapped)
    f = files(plan, name)
    others = {k: v for k, v in (others or {}).items() if k != name}
    steps: list[Any] = []
    if stage == "trust":
        steps.append(cert_step(f.new, None))
        steps.append(_bundle_step(f))
        if needs_signer(plan, f):
            steps.append(_copy_cert_step(f, f.ca.cert_file, "the old CA"))
        steps.extend(_changed(plan, others, {**others, name: "trust"}))
    elif stage == "switch":
        steps.extend(renew_step(s.spec, f.new) for s in leaves(plan, name))
        if needs_signer(plan, f):
            steps.append(_copy_cert_step(f, f.new.cert_file, "the new CA"))
        steps.extend(_switch_files(plan, name, others))
    else:
        if aside:
            step = _aside_step(f, aside, aside_done)
            if step.actions:
                steps.append(step)
        if not swapped:
            steps.append(_swap_step(f))
        steps.extend(_changed(plan, {**others, name: "switch"}, others))
        embedded = {s.name for s in _changed(plan, {**others, name: "switch"}, others)}
        steps.extend(
            s
            for s in rewritten(plan, others)
            if isinstance(s, KubeconfigStep)
            and s.name not in embedded
            and s.spec.embed
            and s.client.ca == name
        )
    return Stage(name, stage, replace(plan, steps=tuple(steps)), f)


LONGEST_TOKEN_NOTE = (
    "remove only after the longest service-account token lifetime has passed since switch "
    "(kube-apiserver --service-account-max-token-expiration; a token made before switch is "
    "signed by the old key and checked with the old public key until then)"
)


def _key_stage_plan(
    plan: Plan,
    name: str,
    stage: str,
    others: Mapping[str, str],
    aside: str,
    aside_done: tuple[str, ...],
    swapped: bool = False,
) -> Stage:
    """A key pair's stage: trust (a new pair; its public key a second verifying flag), switch
    (the signing flags name the new private key), remove (the new pair takes the old one's
    names, the old one kept aside, the flags as the recipe writes them)."""
    kf = key_files(plan, name)
    others = {k: v for k, v in others.items() if k != name}
    steps: list[Any] = []
    notes: tuple[str, ...] = ()
    if stage == "trust":
        steps.append(keypair_step(kf.new))
        steps.extend(_changed(plan, others, {**others, name: "trust"}))
    elif stage == "switch":
        steps.extend(_changed(plan, {**others, name: "trust"}, {**others, name: "switch"}))
        notes = (LONGEST_TOKEN_NOTE,)
    else:
        pair, new = kf.pair, kf.new
        if aside:
            kept = [p for p in (pair.key_file, pair.pub_file) if p not in aside_done]
            copies = aside_copies(aside, kept, pair.key_file)
            if copies:
                steps.append(FileStep(f"{name}-old-aside", f"{name}: the old key pair kept aside",
                                      "The old key pair, byte for byte, before the new one "
                                      "takes its names.", copies))  # fmt: skip
        swap = tuple(
            Command(("cp", src, dst), reads=(src,), writes=(dst,), secret=dst == pair.key_file)
            for src, dst in ((new.key_file, pair.key_file), (new.pub_file, pair.pub_file))
        )
        if not swapped:
            steps.append(FileStep(f"{name}-new-in-place", f"{name}: the new key pair takes the "
                                  "old one's file names", "From here the flags name the recipe's "
                                  "files again: one public key, the new one.", swap))  # fmt: skip
        steps.extend(_changed(plan, {**others, name: "switch"}, others))
        notes = (LONGEST_TOKEN_NOTE,)
    return Stage(name, stage, replace(plan, steps=tuple(steps)), kf, notes)


def _switch_files(plan: Plan, name: str, others: Mapping[str, str]) -> list[Any]:
    """At switch: the signer key flag moves to the new key, and every kubeconfig that embeds a
    re-issued certificate embeds it again (its CA data stays the bundle)."""
    out = list(_changed(plan, {**others, name: "trust"}, {**others, name: "switch"}))
    done = {s.name for s in out}
    out += [
        s
        for s in rewritten(plan, {**others, name: "switch"})
        if isinstance(s, KubeconfigStep)
        and s.spec.embed
        and s.client.ca == name
        and s.name not in done
    ]
    return out


def needs_signer(plan: Plan, f: Files) -> bool:
    """Whether a component hands this CA to a signer (the controller manager)."""
    sources = _sources(plan)
    return any(
        flag in SIGNER_CERT_FLAGS and _named(value, sources) == f.ca.cert_file
        for c in plan.components
        for flag, value in c.flags
    )


def _bundle_step(f: Files) -> FileStep:
    old, new = f.ca.cert_file, f.new.cert_file
    return FileStep(
        name=f.bundle,
        title=f"{f.ca.name}: the trust bundle, old CA then new",
        explain=(
            f"Every program that checks a certificate from {f.ca.name} reads this bundle during "
            "the rotation, so it accepts both a certificate from the old CA and one from the new."
        ),
        actions=(
            Command(("cat", old, new), reads=(old, new), writes=(f.bundle,), stdout=f.bundle),
        ),
    )


def _copy_cert_step(f: Files, source: str, which: str) -> FileStep:
    return FileStep(
        name=f.signer,
        title=f"{f.ca.name}: the controller manager's signer, {which} alone",
        explain=(
            "kube-controller-manager's --cluster-signing-cert-file (and its --client-ca-file) "
            "must be one certificate, not a bundle: a copy of the CA it signs with."
        ),
        actions=(
            Command(
                ("openssl", "x509", "-in", source, "-out", f.signer),
                reads=(source,),
                writes=(f.signer,),
            ),
        ),
    )


def aside_copies(aside: str, paths: list[str], key: str) -> tuple[Command, ...]:
    """The old files copied byte for byte into the folder `aside` (made first, mode 0700, as a
    person replaying commands.sh needs it); () when every one is there already."""
    if not paths:
        return ()
    made = Command(("mkdir", "-p", "-m", "0700", aside))
    return (made, *(
        Command(("cp", p, f"{aside}/{p}"), reads=(p,), writes=(f"{aside}/{p}",), secret=p == key)
        for p in paths
    ))  # fmt: skip


def _aside_step(f: Files, aside: str, done: tuple[str, ...] = ()) -> FileStep:
    ca = f.ca
    kept = [p for p in (ca.cnf_file, ca.key_file, ca.csr_file, ca.cert_file) if p and p not in done]
    actions = aside_copies(aside, kept, ca.key_file)
    return FileStep(
        name=f"{ca.name}-old-aside",
        title=f"{ca.name}: the old CA's files kept aside",
        explain="The old CA's files, byte for byte, before the new CA takes their names.",
        actions=actions,
    )


def _swap_step(f: Files) -> FileStep:
    ca, new = f.ca, f.new
    pairs = (
        (new.key_file, ca.key_file),
        (new.csr_file, ca.csr_file),
        (new.cert_file, ca.cert_file),
    )
    return FileStep(
        name=f"{ca.name}-new-in-place",
        title=f"{ca.name}: the new CA takes the old one's file names",
        explain=(
            f"From here {ca.cert_file} holds the new CA alone, and every file names it again as "
            "the recipe writes it: the bundles are gone, the old CA is trusted nowhere."
        ),
        actions=tuple(
            Command(("cp", src, dst), reads=(src,), writes=(dst,), secret=dst == ca.key_file)
            for src, dst in pairs
        ),
    )


def expected_texts(plan: Plan, phases: Mapping[str, str]) -> dict[str, str]:
    """Each component file's text with the CAs at these phases (for rotation_state)."""
    return {
        s.name: a.content
        for s in rewritten(plan, phases)
        if isinstance(s, ComponentStep)
        for a in s.actions
        if isinstance(a, WriteFile)
    }
