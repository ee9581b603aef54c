"""Recipe -> plan: an ordered list of steps, each an exact argv or a file's full text.

The plan is pure (no I/O, no clock, no randomness), so dry-run, run and export render the very
same object, and unit tests need no openssl.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Union

from kpki_openssl import components, kubeconfig, openssl_argv
from kpki_openssl.certlist import CertSpec, KeyPairSpec, expand, expand_keypairs
from kpki_openssl.components import ComponentFile
from kpki_openssl.errors import InputError
from kpki_openssl.kubeconfig import KubeconfigSpec
from kpki_openssl.recipe import Recipe, VariableValue

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


@dataclass(frozen=True)
class Command:
    """One program run: the exact argv, the files it reads, and the files it writes."""

    argv: tuple[str, ...]
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    private: bool = False  # what it writes is secret (a key): mode 0600


@dataclass(frozen=True)
class WriteFile:
    """A file the tool writes itself (a generated .cnf, a kubeconfig), with its full text."""

    path: str
    content: str
    mode: int = PUBLIC_MODE


Action = Union[Command, WriteFile]


@dataclass(frozen=True)
class Step:
    """What one named step does: usually one certificate's key, CSR and signature."""

    name: str
    title: str
    explain: str
    actions: tuple[Action, ...]
    needs: tuple[str, ...] = ()  # steps whose files this one reads (its CA)
    cert: CertSpec | None = None
    notes: tuple[str, ...] = ()  # comment lines shown verbatim before the actions
    keypair: KeyPairSpec | None = None

    @property
    def writes(self) -> tuple[str, ...]:
        out: list[str] = []
        for action in self.actions:
            out.extend(action.writes if isinstance(action, Command) else (action.path,))
        return tuple(dict.fromkeys(out))  # a kubeconfig is written, then rewritten by kubectl

    @property
    def reads(self) -> tuple[str, ...]:
        """Files this step reads that an earlier step (or an earlier run) must have made."""
        made = set()
        out: list[str] = []
        for action in self.actions:
            if isinstance(action, Command):
                out.extend(p for p in action.reads if p not in made and p not in out)
                made.update(action.writes)
            else:
                made.add(action.path)
        return tuple(out)


@dataclass(frozen=True)
class Plan:
    recipe: str
    values: Mapping[str, VariableValue]
    steps: tuple[Step, ...]
    certs: tuple[CertSpec, ...] = field(default=())
    kubeconfigs: tuple[KubeconfigSpec, ...] = field(default=())
    components: tuple[ComponentFile, ...] = field(default=())

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise InputError(f"step: unknown step {name!r} (see 'list')")

    def select(self, names: Iterable[str]) -> Plan:
        """The named steps in plan order ('all' means every step)."""
        wanted = list(names)
        if "all" in wanted or not wanted:
            return self
        chosen = {self.step(n).name for n in wanted}
        return Plan(
            self.recipe,
            self.values,
            tuple(s for s in self.steps if s.name in chosen),
            self.certs,
            self.kubeconfigs,
            self.components,
        )


def build_plan(recipe: Recipe, values: Mapping[str, VariableValue]) -> Plan:
    """The ordered steps: every certificate (CAs first), then the kubeconfigs and component
    configuration files that use them."""
    certs = expand(recipe, values)
    by_name = {c.name: c for c in certs}
    configs = kubeconfig.expand(recipe, values, certs)
    files = components.expand(recipe, values, certs)
    steps = (
        *(cert_step(c, by_name.get(c.ca) if c.ca else None) for c in certs),
        *(keypair_step(k) for k in expand_keypairs(recipe, values, certs)),
        *(kubeconfig_step(k, by_name) for k in configs),
        *(component_step(f) for f in files),
    )
    names = [s.name for s in steps]
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    if dupes:
        raise InputError(f"step: {dupes[0]!r} is both a certificate and a file name")
    return Plan(
        recipe=recipe.name,
        values=dict(values),
        steps=steps,
        certs=certs,
        kubeconfigs=configs,
        components=files,
    )


def cert_step(spec: CertSpec, signer: CertSpec | None) -> Step:
    """The document's three commands for one certificate, after writing its .cnf."""
    signer_files = (signer.cert_file, signer.key_file) if signer else (spec.key_file,)
    cnf = (spec.cnf_file,) if spec.cnf_file else ()
    x509_cnf = cnf if spec.sign_extensions else ()
    actions: tuple[Action, ...] = (
        *((WriteFile(spec.cnf_file, openssl_argv.cnf_text(spec)),) if cnf else ()),
        Command(openssl_argv.genkey_argv(spec), writes=(spec.key_file,), private=True),
        Command(
            openssl_argv.req_argv(spec),
            reads=(spec.key_file, *cnf),
            writes=(spec.csr_file,),
        ),
        Command(
            openssl_argv.x509_argv(spec, signer),
            reads=(spec.csr_file, *x509_cnf, *signer_files),
            writes=(spec.cert_file,),
        ),
    )
    return Step(
        name=spec.name,
        title=spec.title,
        explain=spec.explain,
        actions=actions,
        needs=(signer.name,) if signer else (),
        cert=spec,
    )


def kubeconfig_step(spec: KubeconfigSpec, certs: Mapping[str, CertSpec]) -> Step:
    """Write the kubeconfig (pyyaml); in the embedded form, then embed the certificates with
    the kubectl commands a person would type. kubeconfigs are 0600 (embedded ones hold a key)."""
    actions: list[Action] = [WriteFile(spec.file, kubeconfig.kubeconfig_text(spec), PRIVATE_MODE)]
    if spec.embed:
        set_cluster, set_credentials, *_ = kubeconfig.kubectl_argvs(spec, embed=True, local=True)
        actions += [
            Command(set_cluster, reads=(spec.ca_file, spec.file), writes=(spec.file,)),
            Command(
                set_credentials,
                reads=(spec.cert_file, spec.key_file, spec.file),
                writes=(spec.file,),
            ),
        ]
    shown = kubeconfig.kubectl_argvs(spec, embed=spec.embed, local=spec.embed)
    notes = (
        "The same file, made with kubectl alone:",
        *(f"  {shlex.join(argv)}" for argv in shown),
    )
    needs = tuple(dict.fromkeys((spec.client, certs[spec.client].ca or spec.client)))
    return Step(
        name=spec.file,
        title=spec.title,
        explain=spec.explain,
        actions=tuple(actions),
        needs=needs if spec.embed else (),
        notes=notes,
    )


def component_step(spec: ComponentFile) -> Step:
    """One configuration file for a program that uses the certificates."""
    return Step(
        name=spec.file,
        title=spec.title,
        explain=spec.explain,
        actions=(WriteFile(spec.file, spec.text),),
    )


RENEW_EXPLAIN = (
    "Renew: sign the existing CSR again with the same CA and the same key. The subject comes from "
    "{csr} and the SANs and extensions from {cnf}, as they are in the folder; only the validity "
    "(and the serial number) is new."
)


def build_renew_plan(plan: Plan) -> Plan:
    """The renew steps for the plan's certificates: one `x509 -req` each, CAs first; then the
    kubeconfigs that embed a renewed certificate, made again (else they would hold the old one).
    """
    by_name = {c.name: c for c in plan.certs}
    steps = [
        renew_step(s.cert, by_name.get(s.cert.ca) if s.cert.ca else None)
        for s in plan.steps
        if s.cert is not None
    ]
    renewed = {s.name for s in steps}
    steps += [s for s in plan.steps if s.cert is None and set(s.needs) & renewed]
    return replace(plan, steps=tuple(steps))


def renew_step(spec: CertSpec, signer: CertSpec | None) -> Step:
    """Re-sign one certificate: it reads the CSR, .cnf and keys an earlier run made.

    The certificate's own key is read too, though x509 -req does not need it: renew keeps the
    key, so a certificate renewed without its key would be one nobody can use.
    """
    signer_files = (signer.cert_file, signer.key_file) if signer else ()
    cnf = (spec.cnf_file,) if spec.cnf_file and spec.sign_extensions else ()
    command = Command(
        openssl_argv.renew_argv(spec, signer),
        reads=(spec.csr_file, *cnf, *signer_files, spec.key_file),
        writes=(spec.cert_file,),
    )
    return Step(
        name=spec.name,
        title=f"renew {spec.title}",
        explain=RENEW_EXPLAIN.format(csr=spec.csr_file, cnf=spec.cnf_file or "the command line"),
        actions=(command,),
        needs=(signer.name,) if signer else (),
        cert=spec,
    )


def keypair_step(spec: KeyPairSpec) -> Step:
    """A bare key pair: the private key, then its public half (kubeadm's sa.key / sa.pub)."""
    return Step(
        name=spec.name,
        title=spec.title,
        explain=spec.explain,
        actions=(
            Command(openssl_argv.genkey_argv(spec), writes=(spec.key_file,), private=True),
            Command(
                openssl_argv.keypair_pub_argv(spec),
                reads=(spec.key_file,),
                writes=(spec.pub_file,),
                private=spec.private_pub,
            ),
        ),
        keypair=spec,
    )
