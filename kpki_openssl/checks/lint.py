"""Lint a recipe before anything is generated: what in it will break a cluster.

Reads recipe data only (CertSpec, .cnf text, variables); runs no program but `openssl version`
(once, to say what the openssl in use writes). Each finding names the certificate (or variable,
or file), a check id, and what is wrong and why, in one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kpki_openssl.base import openssl_version
from kpki_openssl.base.errors import InputError
from kpki_openssl.checks import expected
from kpki_openssl.checks.kubeconfig_files import KUBECONFIG_SUFFIXES, servers_in_text
from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec, check_table, expand_rows
from kpki_openssl.recipe.model import Recipe, VariableValue

if TYPE_CHECKING:
    from kpki_openssl.plan.steps import Plan

MIN_RSA_BITS = 2048
# Default RBAC binds each component's ClusterRole to a *user*: the certificate's CN.
COMPONENT_USERS = {
    "kube-scheduler": "system:kube-scheduler",
    "kube-controller-manager": "system:kube-controller-manager",
    "kube-proxy": "system:kube-proxy",
}
_KUBELET_CLIENT = re.compile(r"kubelet-client-(.+)")
_KUBELET_SERVING = re.compile(r"kubelet-(?!client-)(.+)")

# Every check lint runs, with what it guards against (README and --json list these).
CHECKS = {
    "default-validity": "no -days: openssl's default is 30 days",
    "outlives-ca": "a leaf valid longer than the CA that signs it",
    "ca-not-ca": "a CA without basicConstraints CA:TRUE (and keyCertSign)",
    "no-extensions": "a leaf without any extensions (no .cnf): no usages, no subjectAltName",
    "extensions-dropped": "x509 -req without -extfile: the CSR's extensions are dropped",
    "usage-role": "key usage / extended key usage that does not fit the certificate's role",
    "nonrepudiation-only": "keyUsage nonRepudiation alone: curl refuses it (kubectl does not)",
    "no-sans": "a server certificate without subjectAltName",
    "cnf-section": "a .cnf naming a section it does not define: openssl req fails",
    "identity": "a subject default RBAC (or the kubelet-serving signer) will not accept",
    "kubeconfig-host": "a kubeconfig server host the apiserver certificate does not cover",
    "duplicate-file": "two certificates (or files) written to the same name",
    "weak-key": f"an RSA key shorter than {MIN_RSA_BITS} bits",
    "unknown-file": "a verbatim file naming a certificate or key no command makes",
    "not-yaml": "a verbatim YAML file a YAML parser refuses",
    "shell-placeholder": "a ${...} placeholder written literally into a file",
}


@dataclass(frozen=True)
class Finding:
    where: str  # certificate name, variable or file
    check: str  # a key of CHECKS
    problem: str

    def line(self) -> str:
        return f"{self.where}: {self.check}: {self.problem}"


def lint(recipe: Recipe, values: Mapping[str, VariableValue]) -> list[Finding]:
    """Every finding for the recipe with these values, in recipe order."""
    specs = expand_rows(recipe, values)
    findings = _duplicates(specs)
    if not findings:
        check_table(specs)  # unknown CA, CA listed late: still bad input (exit 2)
    by_name = {s.name: s for s in specs}
    for spec in specs:
        signer = by_name.get(spec.ca) if spec.ca else None
        findings += _validity(spec, signer)
        findings += _extensions(spec)
        findings += _identity(spec)
        if spec.key.type == "rsa" and spec.key.size < MIN_RSA_BITS:
            findings.append(
                Finding(spec.name, "weak-key", f"RSA {spec.key.size} bits (use {MIN_RSA_BITS}+)")
            )
    duplicated = any(f.check == "duplicate-file" for f in findings)
    plan, refused = (None, None) if duplicated else _plan(recipe, values)
    findings += _kubeconfig_hosts(values, specs, plan)
    findings += _plan_duplicates(plan)
    findings += _verbatim_files(plan)
    if refused is not None and not any(f.check in _EXPLAINS_REFUSAL for f in findings):
        raise refused  # a recipe no run would accept is bad input (exit 2), never "lint-clean"
    return findings


# findings that are why the plan is refused: reported as findings, not as bad input
_EXPLAINS_REFUSAL = ("kubeconfig-host", "duplicate-file")


def _plan(
    recipe: Recipe, values: Mapping[str, VariableValue]
) -> tuple[Plan | None, InputError | None]:
    from kpki_openssl.plan.steps import build_plan

    try:
        return build_plan(recipe, values), None
    except InputError as exc:
        return None, exc


_NAMED_FILE = re.compile(r"[\w./${}-]+\.(?:crt|key|pem|cr)\b")


def _verbatim_files(plan: Plan | None) -> list[Finding]:
    """The document's files written verbatim (`verbatim:` components): the files they name
    that no command makes, and, for YAML, what a YAML parser makes of them."""
    if plan is None:
        return []
    made = {f.rsplit("/", 1)[-1] for c in plan.certs for f in (c.cert_file, c.key_file)}
    out = []
    for comp in plan.components:
        if comp.format != "verbatim":
            continue
        names = dict.fromkeys(m.rsplit("/", 1)[-1] for m in _NAMED_FILE.findall(comp.text))
        missing = [n for n in names if n not in made]
        if missing:
            out.append(
                Finding(
                    comp.file,
                    "unknown-file",
                    f"names {', '.join(missing)}, which no command of this recipe makes",
                )  # fmt: skip
            )
        if comp.file.endswith((".yaml", ".yml", ".kubeconfig")):
            import yaml

            try:
                yaml.safe_load(comp.text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
                problem = getattr(exc, "problem", None) or "invalid YAML"
                out.append(Finding(comp.file, "not-yaml", f"not YAML{where}: {problem}"))
        if "${" in comp.text:
            out.append(
                Finding(
                    comp.file,
                    "shell-placeholder",
                    "a ${...} shell placeholder, written literally: nothing fills it in",
                )  # fmt: skip
            )
    return out


def _plan_duplicates(plan: Plan | None) -> list[Finding]:
    """Files two steps write with different content (a kubeconfig over a certificate, ...)."""
    from kpki_openssl.plan.steps import Command, WriteFile

    if plan is None:
        return []
    owners: dict[str, tuple[str, object]] = {}
    out = []
    for step in plan.steps:
        for action in step.actions:
            if isinstance(action, WriteFile):
                writes = [(action.path, action.content)]
            elif isinstance(action, Command):
                writes = [(path, step.name) for path in action.writes]
            else:
                continue
            for path, content in writes:
                owner = owners.setdefault(path, (step.name, content))
                if owner[0] != step.name and owner[1] != content:
                    out.append(
                        Finding(
                            step.name,
                            "duplicate-file",
                            f"writes {path}, which {owner[0]} writes too: one overwrites the other",
                        )
                    )
    return out


def _duplicates(specs: list[CertSpec]) -> list[Finding]:
    owners: dict[str, tuple[str, str]] = {}  # file -> (certificate, content marker)
    out: list[Finding] = []
    for spec in specs:
        files = [spec.key_file, spec.csr_file, spec.cert_file]
        cnf = spec.cnf_file
        for path in files + ([cnf] if cnf else []):
            marker = openssl_argv.cnf_text(spec) if path == cnf else path + spec.name
            if path in owners and owners[path][1] != marker:
                out.append(
                    Finding(
                        spec.name,
                        "duplicate-file",
                        f"writes {path}, which {owners[path][0]} writes too: one overwrites "
                        "the other",
                    )
                )
            owners.setdefault(path, (spec.name, marker))
    return out


def _validity(spec: CertSpec, signer: CertSpec | None) -> list[Finding]:
    out = []
    if spec.days is None:
        out.append(
            Finding(
                spec.name,
                "default-validity",
                f"no -days: openssl makes it valid {expected.DEFAULT_DAYS} days only",
            )
        )
    if signer is not None and expected.validity_days(spec) > expected.validity_days(signer):
        out.append(
            Finding(
                spec.name,
                "outlives-ca",
                f"valid {expected.validity_days(spec)} days, its CA {signer.name} only "
                f"{expected.validity_days(signer)}: it stops verifying when the CA expires",
            )
        )
    return out


def _extensions(spec: CertSpec) -> list[Finding]:
    out = []
    signed = expected.signed(spec)
    asked = expected.requested(spec)
    if spec.cnf == "file":
        section = openssl_argv.extension_section(spec) if spec.sign_extensions else None
        for ref, name in expected.missing_sections(spec.cnf_text, section):
            out.append(
                Finding(
                    spec.name,
                    "cnf-section",
                    f"{spec.cnf_file}: {ref} names [{name}], which it does not define "
                    f"(openssl fails: Unable to get '{name}' section)",
                )
            )
    if spec.is_ca:
        if signed.is_ca is not True or (signed.key_usage and "keyCertSign" not in signed.key_usage):
            out.append(
                Finding(
                    spec.name,
                    "ca-not-ca",
                    "the CA certificate has no basicConstraints CA:TRUE (and no keyCertSign): "
                    "openssl verify -x509_strict refuses every certificate it signs ('invalid CA "
                    "certificate'); kubectl (Go) and curl refuse them only when the CA is a v3 "
                    "certificate: "
                    + (
                        "it has extensions, so it is one on every OpenSSL and they refuse them"
                        if signed.present
                        else openssl_version.bare_ca_leaves(openssl_version.in_use())
                    ),
                )
            )
    elif spec.cnf == "none":
        out.append(
            Finding(
                spec.name,
                "no-extensions",
                "no .cnf and no -extfile: no keyUsage, extendedKeyUsage or subjectAltName (its "
                f"role needs {_role_words(spec)}): "
                f"{openssl_version.bare_certificate(openssl_version.in_use())}",
            )
        )
    elif not spec.sign_extensions and asked.present:
        out.append(
            Finding(
                spec.name,
                "extensions-dropped",
                f"x509 -req is not given -extfile {spec.cnf_file}: the CSR's extensions "
                f"({_ext_names(asked)}) are dropped: "
                f"{openssl_version.bare_certificate(openssl_version.in_use())}",
            )
        )
    else:
        out += _usage_role(spec, signed)
    for ext, where in ((asked, "requested"), (signed, "signed")):
        if ext.key_usage and set(ext.key_usage) == {"nonRepudiation"}:
            out.append(
                Finding(
                    spec.name,
                    "nonrepudiation-only",
                    f"{where} keyUsage is nonRepudiation only: curl and Python's ssl refuse it "
                    "as a server certificate ('unsuitable certificate purpose'), kubectl (Go "
                    "ignores keyUsage) accepts it; use digitalSignature, keyEncipherment",
                )
            )
            break
    if "serverAuth" in spec.extended_key_usage and not (signed.sans.dns or signed.sans.ips):
        out.append(
            Finding(
                spec.name,
                "no-sans",
                "a server certificate without subjectAltName: kubectl refuses it for every "
                "name ('x509: certificate is not valid for any names, but wanted to match "
                "HOST'; 'certificate relies on legacy Common Name field' when the CN is that "
                "host), etcdctl says only 'context deadline exceeded' while etcd logs 'tls: "
                "bad certificate'; curl alone falls back to the CN",
            )
        )
    return out


def _usage_role(spec: CertSpec, signed: expected.Extensions) -> list[Finding]:
    out = []
    missing = [u for u in spec.extended_key_usage if u not in signed.extended_key_usage]
    if missing:
        out.append(
            Finding(
                spec.name,
                "usage-role",
                f"its role ({spec.profile}) needs extendedKeyUsage {', '.join(missing)}; "
                f"the certificate has {', '.join(signed.extended_key_usage) or 'none'}",
            )
        )
    if signed.is_ca:
        out.append(Finding(spec.name, "usage-role", "a leaf certificate with CA:TRUE"))
    if "keyCertSign" in signed.key_usage:
        out.append(Finding(spec.name, "usage-role", "a leaf certificate with keyCertSign"))
    if spec.extended_key_usage and "digitalSignature" not in signed.key_usage:
        out.append(
            Finding(
                spec.name,
                "usage-role",
                "a TLS certificate without keyUsage digitalSignature "
                f"(has {', '.join(signed.key_usage) or 'none'})",
            )
        )
    return out


def _identity(spec: CertSpec) -> list[Finding]:
    if spec.is_ca:
        return []
    cn = spec.common_name
    for component, user in COMPONENT_USERS.items():
        if component in (spec.name, spec.base) or cn == component:
            if cn != user:
                return [
                    Finding(
                        spec.name,
                        "identity",
                        f"CN={cn}: default RBAC authorizes the user {user} "
                        f"(ClusterRoleBinding for {component}); this identity is forbidden",
                    )
                ]
            return []
    client = _KUBELET_CLIENT.fullmatch(spec.name)
    if client or cn.startswith("system:node:"):
        node = client.group(1) if client else cn[len("system:node:") :]
        want = f"system:node:{node}"
        if cn != want or "system:nodes" not in spec.organizations:
            return [
                Finding(
                    spec.name,
                    "identity",
                    f"subject {spec.subject_text}: the Node authorizer needs CN={want}, "
                    "O=system:nodes",
                )
            ]
        return []
    serving = _KUBELET_SERVING.fullmatch(spec.name)
    if serving and "serverAuth" in spec.extended_key_usage:
        want = f"system:node:{serving.group(1)}"
        if cn != want:
            return [
                Finding(
                    spec.name,
                    "identity",
                    f"CN={cn}: every node presents the same name; the kubelet-serving signer "
                    f"needs CN={want}, O=system:nodes",
                )
            ]
    return []


def _kubeconfig_hosts(
    values: Mapping[str, VariableValue], specs: list[CertSpec], plan: Plan | None
) -> list[Finding]:
    servers: list[tuple[str, str]] = []
    configured = values.get("kubeconfig_server")
    if isinstance(configured, str) and configured:
        servers.append(("kubeconfig_server", configured))
    servers += _plan_servers(plan)
    api = expected.apiserver(specs)
    if not servers or api is None:
        return []
    signed = expected.signed(api)
    out = []
    for where, url in dict.fromkeys(servers):
        host = expected.url_host(url)
        if host and not expected.host_covered(host, signed.sans.dns, signed.sans.ips):
            sans = ", ".join([*signed.sans.dns, *signed.sans.ips]) or "none"
            out.append(
                Finding(
                    where,
                    "kubeconfig-host",
                    f"server {url}: host {host} is not among the {api.name} certificate's "
                    f"SANs ({sans}); kubectl refuses the connection ('x509: certificate is "
                    f"valid for ..., not {host}')",
                )
            )
    return out


def _plan_servers(plan: Plan | None) -> list[tuple[str, str]]:
    """Server URLs of the kubeconfigs the plan writes (when the recipe makes any)."""
    from kpki_openssl.plan.steps import WriteFile

    if plan is None:
        return []
    out = []
    for step in plan.steps:
        for action in step.actions:
            if isinstance(action, WriteFile) and action.path.endswith(KUBECONFIG_SUFFIXES):
                out += [(action.path, url) for url in servers_in_text(action.content)]
    return out


def _role_words(spec: CertSpec) -> str:
    return ", ".join(spec.extended_key_usage) or ", ".join(spec.key_usage) or "extensions"


def _ext_names(ext: expected.Extensions) -> str:
    names = []
    if ext.is_ca is not None:
        names.append("basicConstraints")
    if ext.key_usage:
        names.append("keyUsage")
    if ext.extended_key_usage:
        names.append("extendedKeyUsage")
    if ext.sans.dns or ext.sans.ips:
        names.append("subjectAltName")
    return ", ".join(names)
