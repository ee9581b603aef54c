"""Recipe -> plan: an ordered list of steps, each an exact argv or a file's full text.

The plan is pure (no I/O, no clock, no randomness), so dry-run, run and export render the very
same object, and unit tests need no openssl.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar, Union

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan import components, kubeconfig, openssl_argv
from kpki_openssl.plan.certlist import CertSpec, KeyPairSpec, expand, expand_keypairs
from kpki_openssl.plan.components import ComponentFile
from kpki_openssl.plan.generated import GeneratedFile
from kpki_openssl.plan.kubeconfig import KubeconfigSpec
from kpki_openssl.recipe.model import Recipe, VariableValue

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


@dataclass(frozen=True)
class Command:
    """One program run: the exact argv, the files it reads, and the files it writes."""

    argv: tuple[str, ...]
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    private: bool = False  # what it writes is secret (a key): mode 0600
    stdout: str = ""  # a file (also in `writes`) that receives what it prints: `> FILE`
    secret: bool = False  # what it writes holds a secret that is not a key: mode 0600


@dataclass(frozen=True)
class WriteFile:
    """A file the tool writes itself (a generated .cnf, a kubeconfig), with its full text."""

    path: str
    content: str
    mode: int = PUBLIC_MODE


Action = Union[Command, WriteFile, GeneratedFile]


class _Files:
    """What every kind of step shares: the files its actions write and read."""

    actions: tuple[Action, ...]

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

    @property
    def key_files(self) -> tuple[str, ...]:
        """Private keys this step makes (kept across runs: never made twice without a flag)."""
        return tuple(
            p for a in self.actions if isinstance(a, Command) and a.private for p in a.writes
        )

    @property
    def needs(self) -> tuple[str, ...]:
        """Steps whose files must be in the folder before this one runs."""
        return ()

    # name, title and why come from the spec the step carries (a file step is named by its file)
    @property
    def name(self) -> str:
        return self.spec.name  # type: ignore[attr-defined]

    @property
    def title(self) -> str:
        return self.spec.title  # type: ignore[attr-defined]

    @property
    def explain(self) -> str:
        return self.spec.explain  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CertStep(_Files):
    """One certificate: its .cnf, key, CSR and signature. `signer` is None for a self-signed CA."""

    spec: CertSpec
    signer: CertSpec | None
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    kind: ClassVar[str] = "certificate"

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.signer.name,) if self.signer else ()

    @property
    def is_ca(self) -> bool:
        return self.spec.is_ca

    @property
    def signer_key_file(self) -> str | None:
        return self.signer.key_file if self.signer else None

    def relation(self) -> str:
        if self.signer is None:
            return "a self-signed CA" if self.spec.is_ca else "self-signed"
        return f"signed by {self.signer.name}"


@dataclass(frozen=True)
class RenewStep(CertStep):
    """A built certificate signed again from its kept CSR, key and .cnf: new validity only."""

    kind: ClassVar[str] = "renew"

    @property
    def title(self) -> str:
        return f"renew {self.spec.title}"

    @property
    def explain(self) -> str:
        return RENEW_EXPLAIN.format(
            csr=self.spec.csr_file, cnf=self.spec.cnf_file or "the command line"
        )


@dataclass(frozen=True)
class KeyPairStep(_Files):
    """A bare key pair (kubeadm's sa.key / sa.pub): no certificate, no CA."""

    spec: KeyPairSpec
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    kind: ClassVar[str] = "key pair"

    def relation(self) -> str:
        return "a key pair, no certificate"


@dataclass(frozen=True)
class KubeconfigStep(_Files):
    """A kubeconfig naming one client certificate, its key and the CA that checks the server."""

    spec: KubeconfigSpec
    client: CertSpec
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    kind: ClassVar[str] = "kubeconfig"

    @property
    def name(self) -> str:
        return self.spec.file

    @property
    def needs(self) -> tuple[str, ...]:
        """The embedded form copies the client certificate and its CA into the file."""
        if not self.spec.embed:
            return ()
        return tuple(dict.fromkeys((self.client.name, self.client.ca or self.client.name)))

    def relation(self) -> str:
        form = "embeds" if self.spec.embed else "names"
        return (
            f"a kubeconfig: {form} {self.spec.cert_file} and {self.spec.key_file} "
            f"(step {self.client.name}), trusts {self.spec.ca_file}"
        )


@dataclass(frozen=True)
class ComponentStep(_Files):
    """A configuration file for a program that uses the certificates (flags or YAML)."""

    spec: ComponentFile
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    kind: ClassVar[str] = "component file"

    @property
    def name(self) -> str:
        return self.spec.file

    def relation(self) -> str:
        return f"a configuration file for {self.spec.program}"


Step = Union[CertStep, RenewStep, KeyPairStep, KubeconfigStep, ComponentStep]


@dataclass(frozen=True)
class Plan:
    """The steps in order. Every other view (certificates, kubeconfigs, ...) is derived from
    them, so a selection can never disagree with itself."""

    recipe: str
    values: Mapping[str, VariableValue]
    steps: tuple[Step, ...]

    @cached_property
    def certs(self) -> tuple[CertSpec, ...]:
        return tuple(s.spec for s in self.steps if isinstance(s, CertStep))

    @cached_property
    def keypairs(self) -> tuple[KeyPairSpec, ...]:
        return tuple(s.spec for s in self.steps if isinstance(s, KeyPairStep))

    @cached_property
    def kubeconfigs(self) -> tuple[KubeconfigSpec, ...]:
        return tuple(s.spec for s in self.steps if isinstance(s, KubeconfigStep))

    @cached_property
    def components(self) -> tuple[ComponentFile, ...]:
        return tuple(s.spec for s in self.steps if isinstance(s, ComponentStep))

    @cached_property
    def _by_name(self) -> dict[str, Step]:
        return {s.name: s for s in self.steps}

    def step(self, name: str) -> Step:
        found = self._by_name.get(name)
        if found is None:
            from kpki_openssl.base.messages import did_you_mean

            hint = did_you_mean(name, self._by_name)
            raise InputError(
                f"step: unknown step {name!r} ({hint + ' ' if hint else ''}see 'kpki-openssl list')"
            )
        return found

    def makers(self) -> dict[str, str]:
        """Each file the plan writes -> the step that writes it."""
        return {path: step.name for step in self.steps for path in step.writes}

    def select(self, names: Iterable[str]) -> Plan:
        """The named steps in plan order ('all' means every step)."""
        wanted = list(names)
        if "all" in wanted or not wanted:
            return self
        chosen = {self.step(n).name for n in wanted}
        return replace(self, steps=tuple(s for s in self.steps if s.name in chosen))


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
    if values.get("node_keys") == "on-node":  # per-node rows: signed from the nodes' CSRs
        from kpki_openssl.plan import signing

        steps = signing.on_node(steps)
    if values.get("kubelet_bootstrap") is True:  # the kubelet TLS bootstrap kit
        from kpki_openssl.plan import bootstrap_kit

        steps = bootstrap_kit.add(steps, values)
    names = [s.name for s in steps]
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    if dupes:
        raise InputError(f"step: {dupes[0]!r} is both a certificate and a file name")
    return Plan(recipe=recipe.name, values=dict(values), steps=steps)


def cert_step(spec: CertSpec, signer: CertSpec | None) -> CertStep:
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
    return CertStep(spec=spec, signer=signer, actions=actions)


def kubeconfig_step(spec: KubeconfigSpec, certs: Mapping[str, CertSpec]) -> KubeconfigStep:
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
    return KubeconfigStep(spec=spec, client=certs[spec.client], actions=tuple(actions), notes=notes)


def component_step(spec: ComponentFile) -> ComponentStep:
    """One configuration file for a program that uses the certificates."""
    return ComponentStep(spec=spec, actions=(WriteFile(spec.file, spec.text),))


RENEW_EXPLAIN = (
    "Renew: sign the existing CSR again with the same CA and the same key. The subject comes from "
    "{csr} and the SANs and extensions from {cnf}, as they are in the folder; only the validity "
    "(and the serial number) is new."
)


def build_renew_plan(plan: Plan) -> Plan:
    """The renew steps for the plan's certificates: one `x509 -req` each, CAs first; then the
    kubeconfigs that embed a renewed certificate, made again (else they would hold the old one).
    """
    steps: list[Step] = [
        renew_step(s.spec, s.signer) for s in plan.steps if isinstance(s, CertStep)
    ]
    renewed = {s.name for s in steps}
    steps += [s for s in plan.steps if isinstance(s, KubeconfigStep) and set(s.needs) & renewed]
    return replace(plan, steps=tuple(steps))


def renew_step(spec: CertSpec, signer: CertSpec | None) -> RenewStep:
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
    return RenewStep(spec=spec, signer=signer, actions=(command,))


def keypair_step(spec: KeyPairSpec) -> KeyPairStep:
    """A bare key pair: the private key, then its public half (kubeadm's sa.key / sa.pub)."""
    return KeyPairStep(
        spec=spec,
        actions=(
            Command(openssl_argv.genkey_argv(spec), writes=(spec.key_file,), private=True),
            Command(
                openssl_argv.keypair_pub_argv(spec),
                reads=(spec.key_file,),
                writes=(spec.pub_file,),
                private=spec.private_pub,
            ),
        ),
    )
