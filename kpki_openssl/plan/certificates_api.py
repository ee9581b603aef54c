"""The Kubernetes Certificates API (certificates.k8s.io/v1): a CertificateSigningRequest manifest
for one of the plan's CSRs, with the signer and usages its role calls for.

Large fleets do not hand nodes a key made elsewhere: each node makes its own key and CSR and the
cluster signs it. `csr NAME` wraps a CSR the tool made; `export --node NODE` writes the script a
node runs to make its own. Pure: the CSR's bytes are passed in.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import CertStep, Command, Plan, Step, cert_step

API_VERSION = "certificates.k8s.io/v1"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"

# openssl's names -> the Certificates API's spelling (KeyUsage values of certificates.k8s.io/v1).
USAGE_NAMES = {
    "digitalSignature": "digital signature",
    "keyEncipherment": "key encipherment",
    "clientAuth": "client auth",
    "serverAuth": "server auth",
}


# CertificateSigningRequestSpec.expirationSeconds (certificates.k8s.io/v1 API reference): an
# int32, and "The minimum valid value for expirationSeconds is 600, i.e. 10 minutes."
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**31 - 1


@dataclass(frozen=True)
class Request:
    """What the manifest says besides the CSR itself."""

    name: str
    signer: str
    usages: tuple[str, ...]
    expiration_seconds: int | None


def is_node_identity(spec: CertSpec) -> bool:
    return spec.common_name.startswith(NODE_USER_PREFIX) and NODES_GROUP in spec.organizations


def signer_for(spec: CertSpec) -> str | None:
    """The built-in signer for this certificate's role, or None when none issues it."""
    if spec.is_ca:
        return None
    eku = set(spec.extended_key_usage)
    if eku == {"clientAuth"}:
        return KUBELET_CLIENT if is_node_identity(spec) else APISERVER_CLIENT
    if eku == {"serverAuth"} and is_node_identity(spec):
        return KUBELET_SERVING
    return None


PRIVILEGED_GROUP = "system:masters"

# Who approves a request for each built-in signer (kube-controller-manager's csrapproving
# controller; the CertificateSigningRequest API reference), and who signs it (its csrsigning
# controller, with --cluster-signing-cert-file / --cluster-signing-key-file).
APPROVAL = {
    KUBELET_CLIENT: (
        "may be approved automatically by kube-controller-manager's csrapproving controller, "
        "when the requester may create certificatesigningrequests/nodeclient (a bootstrap "
        "token) or /selfnodeclient (the node renewing its own); otherwise: kubectl "
        "certificate approve"
    ),
    KUBELET_SERVING: (
        "never approved automatically by kube-controller-manager: kubectl certificate approve"
    ),
    APISERVER_CLIENT: (
        "never approved automatically by kube-controller-manager: kubectl certificate approve"
    ),
}


def refused_subject(spec: CertSpec, signer: str) -> str | None:
    """Why the API server refuses this request outright, or None.

    The CertificateSubjectRestriction admission plugin (on by default) rejects a request for
    kubernetes.io/kube-apiserver-client whose subject has O=system:masters: a group no RBAC rule
    can limit must not be handed out through the API."""
    if signer == APISERVER_CLIENT and PRIVILEGED_GROUP in spec.organizations:
        return (
            f"csr {spec.name}: the API server refuses a {APISERVER_CLIENT} request with "
            f"O={PRIVILEGED_GROUP} (admission plugin CertificateSubjectRestriction); sign it "
            "with the CA instead (run), or use a group bound by RBAC"
        )
    return None


def approval_note(request: Request) -> str:
    """One line for stderr: the signer and the approval the request needs before it is signed."""
    how = APPROVAL.get(request.signer)
    if how is None:
        return f"csr {request.name}: signer {request.signer} (custom): its own approver and signer"
    return (
        f"csr {request.name}: signer {request.signer}; {how}; then kube-controller-manager "
        "signs it with --cluster-signing-cert-file/--cluster-signing-key-file"
    )


def request_for(spec: CertSpec, signer: str | None = None) -> Request:
    """The manifest's fields; `signer` overrides the built-in choice (a custom signer)."""
    chosen = signer or signer_for(spec)
    if chosen is None:
        role = "a CA" if spec.is_ca else f"a certificate with {', '.join(spec.extended_key_usage)}"
        raise InputError(
            f"csr {spec.name}: no built-in Kubernetes signer issues {role} "
            "(sign it with the CA, or name a custom signer with --signer)"
        )
    refused = refused_subject(spec, chosen)
    if refused:
        raise InputError(refused)
    usages = tuple(
        USAGE_NAMES[u] for u in (*spec.key_usage, *spec.extended_key_usage) if u in USAGE_NAMES
    )
    seconds = spec.days * 86400 if spec.days is not None else None
    if seconds is not None and not MIN_EXPIRATION <= seconds <= MAX_EXPIRATION:
        raise InputError(
            f"csr {spec.name}: -days {spec.days} is {seconds} seconds, which the API refuses "
            f"as expirationSeconds (an int32 from {MIN_EXPIRATION} to {MAX_EXPIRATION}: "
            f"{MAX_EXPIRATION // 86400} days at most); sign it with the CA instead (run)"
        )
    return Request(spec.name.replace("_", "-"), chosen, usages, seconds)


def manifest_head(request: Request) -> str:
    """The manifest up to (not including) `spec.request`, which must come last (the node
    script appends it). Strings go through base.yamltext, so each reads back as written."""
    from kpki_openssl.base.yamltext import scalar

    lines = [
        f"apiVersion: {API_VERSION}",
        "kind: CertificateSigningRequest",
        "metadata:",
        f"  name: {scalar(request.name)}",
        "spec:",
        f"  signerName: {scalar(request.signer)}",
    ]
    if request.expiration_seconds is not None:
        lines.append(f"  expirationSeconds: {request.expiration_seconds}")
    lines.append("  usages:")
    lines += [f"  - {scalar(u)}" for u in request.usages]
    return "\n".join(lines) + "\n"


def manifest(request: Request, csr_pem: bytes) -> str:
    """The whole manifest: `spec.request` is the PEM CSR, base64-encoded on one line."""
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in csr_pem:
        raise InputError(f"csr {request.name}: the file is not a PEM certificate request")
    encoded = base64.b64encode(csr_pem).decode("ascii")
    return manifest_head(request) + f"  request: {encoded}\n"


def manifest_file(spec: CertSpec) -> str:
    return f"{spec.base}-csr.yaml"


def node_steps(plan: Plan, node: str) -> tuple[Step, ...]:
    """The steps of certificates made for one node (rows `for_each` over the `nodes` list)."""
    nodes = plan.values.get("nodes")
    if not isinstance(nodes, tuple):
        raise InputError(f"--node: recipe {plan.recipe} has no list variable 'nodes'")
    if node not in nodes:
        raise InputError(f"--node: {node!r} is not one of the nodes ({', '.join(nodes)})")
    steps = tuple(
        s for s in plan.steps if isinstance(s, CertStep) and s.spec.for_each == ("nodes", node)
    )
    if not steps:
        raise InputError(f"--node: no certificate of recipe {plan.recipe} is made per node")
    return steps


def node_actions(step: Step) -> tuple:
    """What a node runs itself: its .cnf, key and CSR - never the signing, which needs the CA."""
    assert isinstance(step, CertStep)
    cert_file = step.spec.cert_file
    whole = cert_step(step.spec, step.signer)  # a step only `sign` makes here: the node's part
    return tuple(a for a in whole.actions if not (isinstance(a, Command) and cert_file in a.writes))
