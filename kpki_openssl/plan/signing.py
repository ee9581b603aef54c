"""Signing a CSR made elsewhere: the step, and which step of the recipe a CSR file is for.

A node that makes its own key (`export --node NODE`) sends only its CSR. `sign` turns it into a
certificate with the very `openssl x509 -req ... -extfile ... -extensions ...` command `run`
uses for that row, after the row's .cnf is written; nothing of the CSR's own extensions is
copied. With `--set node_keys=on-node` the plan's per-node rows are such steps from the start,
so `run` makes no key, CSR or certificate for them. Pure: paths in, steps out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import (
    Action,
    CertStep,
    Command,
    KubeconfigStep,
    Plan,
    Step,
    WriteFile,
)

ON_NODE = "on-node"
NODE_KEYS = "node_keys"  # the recipe variable: on-ca (default) or on-node
NODES = "nodes"  # the list variable per-node rows loop over

SIGN_EXPLAIN = (
    "Signed from a CSR made where the key lives: this folder never holds {key}. The CSR "
    "({csr}) is only read, never rewritten; the certificate's extensions come from {cnf} "
    "(-extfile/-extensions), not from the CSR, and its validity from the recipe."
)


@dataclass(frozen=True)
class SignStep(CertStep):
    """A certificate signed from a CSR made elsewhere: no key and no CSR are made here.

    `source` is the CSR file to copy into the folder ('' when the folder holds it already)."""

    source: str = ""
    kind: ClassVar[str] = "sign"

    @property
    def explain(self) -> str:
        own = SIGN_EXPLAIN.format(
            key=self.spec.key_file,
            csr=self.spec.csr_file,
            cnf=self.spec.cnf_file or "the command line",
        )
        return f"{self.spec.explain}\n\n{own}" if self.spec.explain else own

    def relation(self) -> str:
        signer = self.signer.name if self.signer else "itself"
        return f"signed by {signer} from the CSR {self.spec.csr_file}; its key stays elsewhere"


def cp_argv(source: str, dest: str) -> tuple[str, ...]:
    """The CSR copied into the folder as it is (byte for byte: the record names its digest)."""
    return ("cp", "--", source, dest)


def sign_step(spec: CertSpec, signer: CertSpec | None, source: str = "") -> SignStep:
    """Copy the CSR in (when `source`), write the row's .cnf, sign with run's x509 command."""
    if signer is None or spec.is_ca:
        raise InputError(f"sign {spec.name}: a CA is made by run, never signed from a CSR")
    if not (spec.cnf_file and spec.sign_extensions):
        raise InputError(
            f"sign {spec.name}: the recipe signs this row without an extension file "
            "(x509 -req without -extfile), which drops every SAN and usage; sign needs one"
        )
    actions: list[Action] = []
    if source:
        actions.append(Command(cp_argv(source, spec.csr_file), writes=(spec.csr_file,)))
    actions += [
        WriteFile(spec.cnf_file, openssl_argv.cnf_text(spec)),
        Command(
            openssl_argv.x509_argv(spec, signer),
            reads=(spec.csr_file, spec.cnf_file, signer.cert_file, signer.key_file),
            writes=(spec.cert_file,),
        ),
    ]
    return SignStep(spec=spec, signer=signer, actions=tuple(actions), source=source)


def is_node_row(spec: CertSpec) -> bool:
    """A row written once and made per node (`for_each` over the `nodes` list)."""
    return spec.for_each is not None and spec.for_each[0] == NODES


def keys_on_node(values: Mapping[str, object]) -> bool:
    return values.get(NODE_KEYS) == ON_NODE


def on_node(steps: Sequence[Step]) -> tuple[Step, ...]:
    """node_keys=on-node: each per-node certificate becomes a step signed from the node's CSR.
    A kubeconfig that embeds such a certificate's key cannot be made here: refused."""
    out: list[Step] = []
    signed: set[str] = set()
    for step in steps:
        if isinstance(step, CertStep) and not step.is_ca and is_node_row(step.spec):
            out.append(sign_step(step.spec, step.signer))
            signed.add(step.name)
        elif isinstance(step, KubeconfigStep) and step.spec.embed and step.client.name in signed:
            raise InputError(
                f"--set {NODE_KEYS}={ON_NODE}: {step.spec.file} would embed "
                f"{step.client.key_file}, which stays on the node; --set embed_certs=no names "
                "the files instead"
            )
        else:
            out.append(step)
    return tuple(out)


def waiting(plan: Plan) -> tuple[SignStep, ...]:
    """The steps only `sign` makes (node_keys=on-node): run leaves them alone."""
    return tuple(s for s in plan.steps if isinstance(s, SignStep))


# ----- which step a CSR file is for


@dataclass(frozen=True)
class Target:
    """The step a CSR is for; `kubeconfig` names the kubeconfig when the CSR came with one
    (kubeadm's ADMIN.conf.csr beside ADMIN.conf)."""

    step: CertStep
    kubeconfig: str = ""


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]


def _tail(path: list[str], planned: str) -> int:
    """How many trailing path parts `path` shares with the plan's file (0: not even its name)."""
    want = _parts(planned)
    n = 0
    while n < min(len(path), len(want)) and path[-1 - n] == want[-1 - n]:
        n += 1
    return n


def target_for(plan: Plan, path: str) -> Target:
    """The one step of the plan the CSR at `path` is for: matched by its file name and as many
    of its folders as the plan's file has (pki/etcd/server.csr). `X.conf.csr` is the CSR of
    kubeconfig X.conf's client certificate, as `kubeadm certs generate-csr` writes it."""
    parts = _parts(path)
    if not parts or not parts[-1].endswith(".csr"):
        raise InputError(f"sign: {path!r} is not a .csr file")
    candidates: list[tuple[int, Target]] = []
    by_name = {s.name: s for s in plan.steps if isinstance(s, CertStep)}
    for step in plan.steps:
        if isinstance(step, CertStep):
            score = _tail(parts, step.spec.csr_file)
            if score:
                candidates.append((score, Target(step)))
        elif isinstance(step, KubeconfigStep) and step.client.name in by_name:
            score = _tail(parts, step.spec.file + ".csr")
            if score:
                candidates.append((score, Target(by_name[step.client.name], step.spec.file)))
    if not candidates:
        raise InputError(
            f"sign: {path!r} is no CSR of recipe {plan.recipe}: its file name must be one the "
            "recipe makes (see 'list'), such as a node's kubelet-client-NODE.csr"
        )
    best = max(score for score, _ in candidates)
    found = [t for score, t in candidates if score == best]
    if len({t.step.name for t in found}) > 1:
        names = ", ".join(sorted({t.step.spec.csr_file for t in found}))
        raise InputError(
            f"sign: {path!r} could be the CSR of more than one step ({names}); "
            "give it in the folders the recipe names"
        )
    if found[0].step.is_ca:
        raise InputError(
            f"sign: {path!r} is for CA {found[0].step.name}: a CA is made by run (its own "
            "key signs it), never signed from a CSR"
        )
    return found[0]


def sign_plan(plan: Plan, targets: Sequence[tuple[Target, str]]) -> Plan:
    """The steps that sign these CSRs, in plan order; `targets` pairs each step with the CSR
    file to copy in ('' when it is the folder's own)."""
    order = {s.name: i for i, s in enumerate(plan.steps)}
    chosen = sorted(targets, key=lambda t: order[t[0].step.name])
    steps = tuple(sign_step(t.step.spec, t.step.signer, source) for t, source in chosen)
    return replace(plan, steps=steps)
