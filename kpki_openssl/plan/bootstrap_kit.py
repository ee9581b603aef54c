"""The kubelet TLS bootstrap kit (`--set kubelet_bootstrap=yes`), as plan steps.

At fleet scale nodes are not handed certificates: each kubelet authenticates once with a
bootstrap token, asks the Certificates API for its client certificate (approved by
kube-controller-manager), and later asks for its serving certificate (approved by nobody
automatically). This module adds the objects that flow needs, each made by the command a person
would type: a token per node (its secret generated into files of mode 0600, never printed), the
token's Secret (`kubectl create secret generic ... --dry-run=client -o yaml`), the three
ClusterRoleBindings (`kubectl create clusterrolebinding`), a bootstrap kubeconfig per node
(`kubectl config`), the `cluster-info` ConfigMap, a KubeletConfiguration with
`rotateCertificates` and `serverTLSBootstrap`, the kubelet's flags, the two control-plane flags,
and an approval script for kubelet-serving CSRs. kubectl checks nothing of this offline, so the
token's format, the Secret's name, namespace and type and the configuration's field names are
checked here. Pure: the secret and the expiry are made when the step runs (plan/generated.py).

Sources: the Kubernetes pages "TLS bootstrapping", "Authenticating with Bootstrap Tokens" and
"Certificate Signing Requests"; kubeadm's phases/bootstraptoken.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, ClassVar

from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.plan import certificates_api, openssl_argv
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.generated import ExpiresIn, JoinedToken, RandomHex
from kpki_openssl.plan.steps import (
    Action,
    CertStep,
    Command,
    ComponentStep,
    Step,
    WriteFile,
    _Files,
    component_step,
)
from kpki_openssl.recipe.model import VariableValue

KIT = "kubelet_bootstrap"  # the recipe variable: yes adds the kit
HOURS = "bootstrap_token_hours"  # how long each token lives
TOKEN_ID = re.compile(r"[a-z0-9]{6}")
TOKEN = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
NAMESPACE = "kube-system"
BOOTSTRAPPERS = "system:bootstrappers"
NODES = "system:nodes"
KUBECTL = "kubectl"
SCRIPT_MODE = 0o755

# (binding name as the TLS bootstrapping page names it, ClusterRole, group, why)
BINDINGS = (
    (
        "create-csrs-for-bootstrapping",
        "system:node-bootstrapper",
        BOOTSTRAPPERS,
        "Lets a bootstrap token create a CertificateSigningRequest: every token authenticates "
        "as user system:bootstrap:<token id> in the group system:bootstrappers, and this "
        "built-in ClusterRole allows creating and reading CSRs, nothing else.",
    ),
    (
        "auto-approve-csrs-for-group",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        BOOTSTRAPPERS,
        "Lets kube-controller-manager's csrapproving controller approve a bootstrapping "
        "kubelet's first client CSR (signer kubernetes.io/kube-apiserver-client-kubelet): it "
        "approves when the requester may create certificatesigningrequests/nodeclient, which "
        "this ClusterRole grants to the group system:bootstrappers.",
    ),
    (
        "auto-approve-renewals-for-nodes",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        NODES,
        "Lets the same controller approve a kubelet renewing its own client certificate: the "
        "requester must be the node itself (its user name equals the CSR's CN, "
        "system:node:<name>) and may create certificatesigningrequests/selfnodeclient, which "
        "this ClusterRole grants to the group system:nodes.",
    ),
)

# KubeletConfiguration (kubelet.config.k8s.io/v1beta1) field names, from
# staging/src/k8s.io/kubelet/config/v1beta1/types.go: kubectl cannot check them offline.
KUBELET_FIELDS = frozenset(
    """apiVersion kind enableServer staticPodPath podLogsDir syncFrequency fileCheckFrequency
    httpCheckFrequency staticPodURL staticPodURLHeader address port readOnlyPort tlsCertFile
    tlsPrivateKeyFile tlsCipherSuites tlsCurvePreferences tlsMinVersion rotateCertificates
    serverTLSBootstrap authentication authorization registryPullQPS registryBurst
    eventRecordQPS eventBurst enableDebuggingHandlers enableContentionProfiling healthzPort
    healthzBindAddress oomScoreAdj clusterDomain clusterDNS streamingConnectionIdleTimeout
    nodeStatusUpdateFrequency nodeStatusReportFrequency nodeLeaseDurationSeconds
    imageMinimumGCAge imageMaximumGCAge imageGCHighThresholdPercent imageGCLowThresholdPercent
    volumeStatsAggPeriod kubeletCgroups systemCgroups cgroupRoot cgroupsPerQOS cgroupDriver
    cpuManagerPolicy cpuManagerPolicyOptions cpuManagerReconcilePeriod memoryManagerPolicy
    topologyManagerPolicy topologyManagerScope topologyManagerPolicyOptions qosReserved
    runtimeRequestTimeout hairpinMode maxPods podCIDR podPidsLimit resolvConf runOnce
    cpuCFSQuota cpuCFSQuotaPeriod nodeStatusMaxImages maxOpenFiles contentType kubeAPIQPS
    kubeAPIBurst serializeImagePulls maxParallelImagePulls evictionHard evictionSoft
    evictionSoftGracePeriod evictionPressureTransitionPeriod evictionMaxPodGracePeriod
    evictionMinimumReclaim podsPerCore enableControllerAttachDetach protectKernelDefaults
    makeIPTablesUtilChains failSwapOn featureGates containerLogMaxSize containerLogMaxFiles
    systemReserved kubeReserved reservedSystemCPUs enforceNodeAllocatable logging
    shutdownGracePeriod shutdownGracePeriodCriticalPods registerNode registerWithTaints
    providerID containerRuntimeEndpoint imageServiceEndpoint""".split()  # noqa: SIM905
)
KUBELET_NESTED = {
    "authentication": {"anonymous", "webhook", "x509"},
    "authentication.anonymous": {"enabled"},
    "authentication.webhook": {"enabled", "cacheTTL"},
    "authentication.x509": {"clientCAFile"},
    "authorization": {"mode", "webhook"},
    "authorization.webhook": {"cacheAuthorizedTTL", "cacheUnauthorizedTTL"},
}


@dataclass(frozen=True)
class KitSpec:
    """One object of the kit: its name (the step's), title and why."""

    name: str
    title: str
    explain: str
    node: str = ""  # the node it is for ('' for the cluster-wide objects)
    document: tuple[str, ...] = ()
    departures: tuple = ()


@dataclass(frozen=True)
class KitStep(_Files):
    """A step of the kubelet TLS bootstrap kit: its files are made by kubectl, written by the
    tool, or generated when run (a token's secret)."""

    spec: KitSpec
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    token_id: str = ""  # the bootstrap token step: the id its files must carry
    kind: ClassVar[str] = "bootstrap"

    def relation(self) -> str:
        who = f" for {self.spec.node}" if self.spec.node else ""
        return f"the kubelet TLS bootstrap kit{who}"

    def check_file(self, path: str, data: bytes) -> str | None:
        """What kubectl does not check offline: the token and the Secret (None: fine)."""
        if not self.token_id:
            return None
        if path.endswith(".token"):
            return check_token(data, self.token_id)
        if path.endswith("-secret.yaml"):
            return check_secret(data, self.token_id)
        return None


# ----- the token


def token_id(node: str) -> str:
    """The token's id for a node: public (it names the Secret), [a-z0-9]{6}, the same in every
    plan, so the plan (and the kubectl command naming the Secret) can hold it. Only the
    secret, made when run, authenticates."""
    number = int.from_bytes(hashlib.sha256(f"kpki-bootstrap-token/{node}".encode()).digest(), "big")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(6):
        number, rest = divmod(number, 36)
        out += digits[rest]
    return out


def check_token(data: bytes, want_id: str) -> str | None:
    text = data.decode("ascii", errors="replace")
    match = TOKEN.fullmatch(text)
    if match is None:
        return "is not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}, no newline)"
    if match.group(1) != want_id:
        return f"holds token id {match.group(1)!r}, not {want_id!r}"
    return None


def check_secret(data: bytes, want_id: str) -> str | None:
    """The Secret kubectl printed, checked as the bootstrap authenticator reads it: its name
    `bootstrap-token-<id>`, namespace kube-system, type bootstrap.kubernetes.io/token, the id
    and secret in their formats, an RFC 3339 expiration, authentication allowed."""
    from kpki_openssl.base import safeyaml

    try:
        doc = safeyaml.load(data.decode("utf-8", errors="replace"), "the Secret")
    except KpkiError as exc:
        return f"is not YAML ({exc})"
    if not isinstance(doc, dict) or doc.get("kind") != "Secret":
        return "is not a Secret"
    meta = doc.get("metadata") or {}
    problems = []
    if meta.get("name") != f"bootstrap-token-{want_id}":
        problems.append(f"name {meta.get('name')!r} is not 'bootstrap-token-{want_id}'")
    if meta.get("namespace") != NAMESPACE:
        problems.append(f"namespace {meta.get('namespace')!r} is not {NAMESPACE!r}")
    if doc.get("type") != SECRET_TYPE:
        problems.append(f"type {doc.get('type')!r} is not {SECRET_TYPE!r}")
    values = {}
    for key, value in (doc.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(str(value), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            problems.append(f"data.{key} is not base64 text")
    if values.get("token-id") != want_id:
        problems.append(f"token-id is not {want_id!r}")
    if not re.fullmatch(r"[a-z0-9]{16}", values.get("token-secret", "")):
        problems.append("token-secret is not [a-z0-9]{16}")
    try:
        datetime.strptime(values.get("expiration", ""), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc
        )
    except ValueError:
        problems.append("expiration is not an RFC 3339 UTC time")
    if values.get("usage-bootstrap-authentication") != "true":
        problems.append("usage-bootstrap-authentication is not 'true'")
    return "; ".join(problems) or None


# ----- building the kit


def wanted(values: Mapping[str, VariableValue]) -> bool:
    return values.get(KIT) is True


def add(steps: Sequence[Step], values: Mapping[str, VariableValue]) -> tuple[Step, ...]:
    """The plan's steps with the kit added (and the two control-plane flags set)."""
    nodes = values.get("nodes")
    if not isinstance(nodes, tuple) or not nodes:
        raise InputError(f"--set {KIT}=yes: the recipe has no list of nodes ('nodes')")
    certs = {s.name: s for s in steps if isinstance(s, CertStep)}
    ca = _cluster_ca(certs.values())
    hours = int(values.get(HOURS, 24))  # type: ignore[call-overload]
    server = str(values.get("kubeconfig_server", ""))
    if not server:
        raise InputError(f"--set {KIT}=yes: the recipe has no kubeconfig_server to dial")
    kubelet_dir = str(values.get("host_kubelet_dir", "/var/lib/kubelet"))
    ids = {node: token_id(node) for node in nodes}
    clash = sorted(n for n in nodes if list(ids.values()).count(ids[n]) > 1)
    if clash:
        raise InputError(
            f"{KIT}: nodes {', '.join(clash)} would share bootstrap token id {ids[clash[0]]!r}; "
            "rename one"
        )
    components = {s.spec.file: s for s in steps if isinstance(s, ComponentStep)}
    out = [_with_flags(s) if isinstance(s, ComponentStep) else s for s in steps]
    for node in nodes:
        base = components.get(f"kubelet-config-{node}.yaml")
        out += [
            token_step(node, ids[node], hours),
            bootstrap_kubeconfig_step(node, server, ca, kubelet_dir),
            kubelet_config_step(node, base.spec.data if base else None, ca, values),
            kubelet_flags_step(node, kubelet_dir),
        ]
    out += [binding_step(*binding) for binding in BINDINGS]
    out.append(cluster_info_step(server, ca))
    out.append(approval_step(steps, values))
    return tuple(out)


def _cluster_ca(certs) -> CertSpec:
    """The CA that signs the kubelets' client certificates (the API server's --client-ca-file
    and kube-controller-manager's signer)."""
    by_name = {s.name: s for s in certs}
    for step in certs:
        client = certificates_api.signer_for(step.spec) == certificates_api.KUBELET_CLIENT
        if client and step.signer is not None:
            return by_name[step.signer.name].spec
    raise InputError(f"--set {KIT}=yes: no kubelet client certificate row names the cluster CA")


def token_step(node: str, tid: str, hours: int) -> KitStep:
    """A token for one node, generated into 0600 files, and its Secret as kubectl prints it."""
    base = f"bootstrap-token-{node}"
    secret, token, expiry, yaml_file = (
        f"{base}.secret", f"{base}.token", f"{base}.expiration", f"{base}-secret.yaml",
    )  # fmt: skip
    argv = (
        KUBECTL, "-n", NAMESPACE, "create", "secret", "generic", f"bootstrap-token-{tid}",
        f"--type={SECRET_TYPE}",
        f"--from-literal=token-id={tid}",
        f"--from-file=token-secret={secret}",
        f"--from-file=expiration={expiry}",
        "--from-literal=usage-bootstrap-authentication=true",
        "--from-literal=usage-bootstrap-signing=true",
        f"--from-literal=description=kubelet TLS bootstrap token for {node} (kpki-openssl)",
        "--dry-run=client", "-o", "yaml",
    )  # fmt: skip
    actions: tuple[Action, ...] = (
        RandomHex(secret),
        JoinedToken(token, token_id=tid, secret_file=secret),
        ExpiresIn(expiry, hours=hours),
        Command(argv, reads=(secret, expiry), writes=(yaml_file,), stdout=yaml_file, secret=True),
    )
    explain = (
        f"The kubelet on {node} authenticates once with this token: user "
        f"system:bootstrap:{tid}, group {BOOTSTRAPPERS}. The id {tid} is public (it names the "
        f"Secret); the secret part is made when run, 16 hex digits from `openssl rand -hex 8` "
        f"(64 random bits; kubeadm's are 16 of [a-z0-9]), into {secret} and, as id.secret, "
        f"into {token}: both mode 0600, never shown in the dry run, commands.sh or an exported "
        f"script. The token expires {hours} hours after it is made (kube-controller-manager's "
        f"tokencleaner deletes the Secret then). Apply {yaml_file} with kubectl; it holds the "
        "secret, so it is 0600 too. One token per node: a token shared by every node lets any "
        "holder act for all of them."
    )
    spec = KitSpec(base, f"bootstrap token for {node} and its Secret", explain, node)
    return KitStep(spec=spec, actions=actions, token_id=tid)


def bootstrap_kubeconfig_step(node: str, server: str, ca: CertSpec, kubelet_dir: str) -> KitStep:
    """The kubeconfig the kubelet starts with: the cluster (CA embedded) and the token's file."""
    file = f"bootstrap-kubelet-{node}.kubeconfig"
    token_path = f"{kubelet_dir.rstrip('/')}/bootstrap-token-{node}.token"
    conf = f"--kubeconfig={file}"
    argvs = (
        (KUBECTL, "config", "set-cluster", "bootstrap", f"--server={server}",
         f"--certificate-authority={ca.cert_file}", "--embed-certs=true", conf),
        (KUBECTL, "config", "set-credentials", "kubelet-bootstrap", conf),
        (KUBECTL, "config", "set", "users.kubelet-bootstrap.tokenFile", token_path, conf),
        (KUBECTL, "config", "set-context", "bootstrap", "--user=kubelet-bootstrap",
         "--cluster=bootstrap", conf),
        (KUBECTL, "config", "use-context", "bootstrap", conf),
    )  # fmt: skip
    actions = tuple(
        Command(argv, reads=(ca.cert_file,) if i == 0 else (file,), writes=(file,))
        for i, argv in enumerate(argvs)
    )
    explain = (
        f"kubelet --bootstrap-kubeconfig on {node}: where the API server is ({server}, checked "
        f"against {ca.cert_file}, embedded) and how to authenticate: the token in {token_path} "
        "(tokenFile), so the kubeconfig itself holds no secret. The kubelet uses it only while "
        "it has no client certificate: it makes a key, sends a CSR for "
        f"system:node:{node} in {NODES}, and writes its own kubeconfig (--kubeconfig) once "
        "the certificate is signed."
    )
    spec = KitSpec(file, f"bootstrap kubeconfig for the kubelet on {node}", explain, node)
    return KitStep(spec=spec, actions=actions)


def kubelet_config_step(
    node: str, base: Any, ca: CertSpec, values: Mapping[str, VariableValue]
) -> KitStep:
    """The node's KubeletConfiguration with certificate rotation and serving-certificate
    bootstrap on, and no tlsCertFile/tlsPrivateKeyFile (the kubelet requests its own)."""
    from kpki_openssl.base import yamltext

    file = f"kubelet-config-bootstrap-{node}.yaml"
    data = dict(base) if isinstance(base, dict) else _minimal_kubelet_config(ca, values)
    for field in ("tlsCertFile", "tlsPrivateKeyFile"):
        data.pop(field, None)
    data["rotateCertificates"] = True
    data["serverTLSBootstrap"] = True
    check_kubelet_fields(file, data)
    text = f"# {file}: KubeletConfiguration for TLS bootstrapping. Written by kpki_openssl.\n"
    text += yamltext.dump(data)
    explain = (
        "rotateCertificates: the kubelet renews its client certificate through the "
        "Certificates API before it expires (approved automatically, see "
        "auto-approve-renewals-for-nodes). serverTLSBootstrap: it also requests its serving "
        "certificate (signer kubernetes.io/kubelet-serving) instead of making a self-signed "
        "one, so no tlsCertFile or tlsPrivateKeyFile here. kube-controller-manager never "
        "approves serving CSRs by itself: a node could ask for any name or IP, so someone "
        "must check them (approve-kubelet-serving.sh)."
    )
    spec = KitSpec(file, f"KubeletConfiguration for bootstrapping on {node}", explain, node)
    return KitStep(spec=spec, actions=(WriteFile(file, text),))


def _minimal_kubelet_config(ca: CertSpec, values: Mapping[str, VariableValue]) -> dict:
    pki = str(values.get("host_pki_dir", "/var/lib/kubernetes")).rstrip("/")
    return {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": f"{pki}/{ca.cert_file.rsplit('/', 1)[-1]}"},
        },
        "authorization": {"mode": "Webhook"},
    }


def check_kubelet_fields(file: str, data: Mapping[str, Any], prefix: str = "") -> None:
    """Every field name is one KubeletConfiguration v1beta1 has (kubectl checks none offline)."""
    known = KUBELET_FIELDS if not prefix else KUBELET_NESTED.get(prefix.rstrip("."))
    for key, value in data.items():
        if known is not None and key not in known:
            raise InputError(f"{file}: {prefix}{key!r} is not a KubeletConfiguration field")
        if isinstance(value, dict) and f"{prefix}{key}" in KUBELET_NESTED:
            check_kubelet_fields(file, value, f"{prefix}{key}.")


def kubelet_flags_step(node: str, kubelet_dir: str) -> KitStep:
    """The kubelet's flags for bootstrapping: where its bootstrap kubeconfig is, where to write
    the kubeconfig it makes, where to keep the certificates it gets, and its configuration."""
    file = f"kubelet-bootstrap-{node}.flags"
    here = kubelet_dir.rstrip("/")
    flags = (
        ("--bootstrap-kubeconfig", f"{here}/bootstrap-kubelet-{node}.kubeconfig"),
        ("--kubeconfig", f"{here}/kubelet-bootstrapped-{node}.kubeconfig"),
        ("--cert-dir", f"{here}/pki"),
        ("--config", f"{here}/kubelet-config-bootstrap-{node}.yaml"),
    )
    text = f"# {file}: kubelet on {node}, bootstrapping. Written by kpki_openssl.\n"
    text += "# Flags for kubelet, one per line; lines starting with # are comments.\n"
    text += "".join(f"{name}={value}\n" for name, value in flags)
    explain = (
        f"--kubeconfig names a file that must not exist yet: the kubelet writes it once its "
        f"client certificate is signed, pointing at {here}/pki/kubelet-client-current.pem "
        "(a link it moves at each rotation). Use these flags instead of "
        f"kubelet-{node}.flags (and no static kubelet certificates are then needed)."
    )
    spec = KitSpec(file, f"kubelet flags for bootstrapping on {node}", explain, node)
    return KitStep(spec=spec, actions=(WriteFile(file, text),))


def binding_step(name: str, role: str, group: str, why: str) -> KitStep:
    file = f"{name}.yaml"
    argv = (
        KUBECTL, "create", "clusterrolebinding", name, f"--clusterrole={role}",
        f"--group={group}", "--dry-run=client", "-o", "yaml",
    )  # fmt: skip
    spec = KitSpec(name, f"ClusterRoleBinding {name}: {role} for {group}", why)
    return KitStep(spec=spec, actions=(Command(argv, writes=(file,), stdout=file),))


def cluster_info_step(server: str, ca: CertSpec) -> KitStep:
    """kube-public/cluster-info: the cluster's address and CA, for discovery."""
    kubeconfig, configmap = "cluster-info-kubeconfig.yaml", "cluster-info-configmap.yaml"
    argvs = (
        (KUBECTL, "config", "set-cluster", "kubernetes", f"--server={server}",
         f"--certificate-authority={ca.cert_file}", "--embed-certs=true",
         f"--kubeconfig={kubeconfig}"),
        (KUBECTL, "-n", "kube-public", "create", "configmap", "cluster-info",
         f"--from-file=kubeconfig={kubeconfig}", "--dry-run=client", "-o", "yaml"),
    )  # fmt: skip
    actions = (
        Command(argvs[0], reads=(ca.cert_file,), writes=(kubeconfig,)),
        Command(argvs[1], reads=(kubeconfig,), writes=(configmap,), stdout=configmap),
    )
    explain = (
        "The cluster-info ConfigMap in kube-public: the API server's address and the cluster "
        "CA, which `kubeadm join` reads before it trusts anything. kube-controller-manager's "
        "bootstrapsigner adds a signature (jws-kubeconfig-<token id>) made with each token "
        "allowed to sign, so a joining node holding a token can check the CA it is given. "
        "kubectl cannot name a cluster '' offline, as kubeadm does; it is named kubernetes here. "
        "kubeadm also lets system:anonymous read the ConfigMap (a Role and RoleBinding); "
        "`kubectl create role --resource` needs a server, so that is not made here."
    )
    spec = KitSpec("cluster-info", "the cluster-info ConfigMap (kube-public)", explain)
    return KitStep(spec=spec, actions=actions)


def approval_step(steps: Sequence[Step], values: Mapping[str, VariableValue]) -> KitStep:
    """The allowed names of each node's serving certificate, and the script that approves
    pending kubelet-serving CSRs asking for exactly those, and denies the rest."""
    allowed = serving_allowed(steps)
    data = json.dumps(allowed, indent=2, sort_keys=True) + "\n"
    explain = (
        "kube-controller-manager approves kubelet client CSRs (see the bindings) but never a "
        "serving CSR: its approver has two recognizers, both for client certificates, because "
        "a node could ask for any name or IP and then serve as it. "
        "approve-kubelet-serving.sh does what an approver must: `kubectl get csr -o json`, "
        "then for each pending kubelet-serving CSR the checks `sign` makes (the node is one of "
        "the recipe's and the requester is that node in system:nodes; exact CN and O, exactly "
        "the node's DNS names and IPs from kubelet-serving-allowed.json, no email or URI, "
        "usages exactly serving, no CA:TRUE, SHA-256 or stronger, the recipe's or the "
        "kubelet's own key type) through `kpki-openssl review-csrs`, and `kubectl certificate "
        "approve` only those; the others get `kubectl certificate deny`. Run it where kubectl "
        "reaches the cluster, again after each serving certificate renewal."
    )
    spec = KitSpec("approve-kubelet-serving", "approval script for kubelet-serving CSRs", explain)
    actions = (
        WriteFile("kubelet-serving-allowed.json", data),
        WriteFile("approve-kubelet-serving.sh", APPROVAL_SCRIPT, SCRIPT_MODE),
    )
    return KitStep(spec=spec, actions=actions)


def serving_allowed(steps: Sequence[Step]) -> dict:
    """What each node's serving CSR may hold: the recipe's kubelet-serving rows, and the
    kubelet's own key (client-go makes ECDSA P-256 keys) besides the recipe's."""
    nodes = {}
    for step in steps:
        if not isinstance(step, CertStep):
            continue
        spec = step.spec
        if certificates_api.signer_for(spec) != certificates_api.KUBELET_SERVING:
            continue
        node = spec.common_name.removeprefix(certificates_api.NODE_USER_PREFIX)
        key = spec.key
        own = {"rsa": f"rsa {key.size}", "ecdsa": f"ecdsa {key.curve}"}.get(key.type, key.type)
        nodes[node] = {
            "step": spec.name,
            "subject": [list(pair) for pair in spec.subject],
            "dns": list(spec.sans.dns),
            "ips": list(spec.sans.ips),
            "key_usage": list(openssl_argv.key_usages(spec)),
            "extended_key_usage": list(spec.extended_key_usage),
            "keys": sorted({own, "ecdsa P-256"}),
        }
    return {"signerName": certificates_api.KUBELET_SERVING, "nodes": nodes}


def _with_flags(step: ComponentStep) -> Step:
    """kube-apiserver takes bootstrap tokens; kube-controller-manager runs the two token
    controllers besides its defaults."""
    extra = {
        "kube-apiserver": (("--enable-bootstrap-token-auth", "true"),),
        "kube-controller-manager": (("--controllers", "*,bootstrapsigner,tokencleaner"),),
    }.get(step.spec.program)
    if not extra or step.spec.format != "flags":
        return step
    have = {name for name, _ in step.spec.flags}
    added = tuple(pair for pair in extra if pair[0] not in have)
    if not added:
        return step
    new = component_step(replace(step.spec, flags=step.spec.flags + added))
    note = f"{KIT}=yes adds " + ", ".join(f"{n}={v}" for n, v in added)
    return replace(new, notes=(*step.notes, note))


APPROVAL_SCRIPT = """#!/usr/bin/env bash
# approve-kubelet-serving.sh: written by kpki_openssl (kubelet TLS bootstrap kit).
#
# Approves each pending kubelet-serving CSR that asks for exactly what the recipe gives its
# node (kubelet-serving-allowed.json, beside this script) and denies the others, with the
# checks `kpki-openssl sign` makes. Run it where kubectl reaches the cluster; reasons go to
# stderr. kube-controller-manager never approves serving CSRs by itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
csrs=$(mktemp)
trap 'rm -f "$csrs"' EXIT
kubectl get csr -o json > "$csrs"
kpki-openssl review-csrs --allowed "$here/kubelet-serving-allowed.json" "$csrs" |
while read -r verdict name; do
  case "$verdict" in
    approve) kubectl certificate approve "$name" ;;
    deny) kubectl certificate deny "$name" ;;
  esac
done
"""
