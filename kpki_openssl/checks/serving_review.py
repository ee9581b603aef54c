"""Which pending kubelet-serving CSRs to approve: `kubectl get csr -o json` read against what
the recipe gives each node (kubelet-serving-allowed.json, written by the bootstrap kit).

kube-controller-manager never approves a kubelet-serving CSR: a node could ask for any name or
IP. An approver must check, as the Certificate Signing Requests page lists for this signer,
that the requester is the node (user system:node:<name>, group system:nodes), that the usages
are exactly a server's, and that the names are the node's own; on top of those, each CSR gets
the same review as `sign` (checks/csr_policy.py). Pure: the JSON documents are passed in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kpki_openssl.base.messages import one_line
from kpki_openssl.checks import csr_policy
from kpki_openssl.plan.certlist import KeySpec
from kpki_openssl.recipe.sans import SubjectAltNames

SERVING = "kubernetes.io/kubelet-serving"
NODE_PREFIX = "system:node:"
NODES = "system:nodes"
# helpers.go: kubeletServingRequiredUsages and kubeletServingRequiredUsagesNoRSA
SERVING_USAGES = (
    frozenset({"digital signature", "key encipherment", "server auth"}),
    frozenset({"digital signature", "server auth"}),
)


@dataclass(frozen=True)
class Verdict:
    """approve or deny one CSR object; `reasons` say why it is denied."""

    name: str
    approve: bool
    reasons: tuple[str, ...] = ()

    def line(self) -> str:
        """The word the approval script acts on, and the CSR's name: `approve NAME`."""
        return f"{'approve' if self.approve else 'deny'} {self.name}"


def key_spec(text: str) -> KeySpec:
    """'rsa 2048', 'ecdsa P-256', 'ed25519' as a KeySpec."""
    kind, _, rest = text.partition(" ")
    if kind == "rsa":
        return KeySpec(type="rsa", size=int(rest))
    if kind == "ecdsa":
        return KeySpec(type="ecdsa", curve=rest)
    return KeySpec(type=kind)


def allowed_for(node: str, entry: Mapping[str, Any]) -> csr_policy.Allowed:
    return csr_policy.Allowed(
        step=str(entry.get("step", node)),
        subject=tuple((str(a), str(v)) for a, v in entry["subject"]),
        sans=SubjectAltNames(tuple(entry.get("dns", ())), tuple(entry.get("ips", ()))),
        key_usage=tuple(entry.get("key_usage", ())),
        extended_key_usage=tuple(entry.get("extended_key_usage", ())),
        keys=tuple(key_spec(k) for k in entry.get("keys", ())),
    )


def _pending(item: Mapping[str, Any]) -> bool:
    conditions = (item.get("status") or {}).get("conditions") or []
    return not any(c.get("type") in ("Approved", "Denied") for c in conditions)


def review(csrs: Mapping[str, Any], allowed: Mapping[str, Any]) -> list[Verdict]:
    """A verdict for every pending CSR of the kubelet-serving signer (others are left alone:
    client CSRs are kube-controller-manager's to approve)."""
    nodes = allowed.get("nodes") or {}
    verdicts = []
    for item in csrs.get("items") or []:
        spec = item.get("spec") or {}
        name = str((item.get("metadata") or {}).get("name", ""))
        if spec.get("signerName") != SERVING or not _pending(item) or not name:
            continue
        verdicts.append(_one(name, spec, nodes))
    return verdicts


def _one(name: str, spec: Mapping[str, Any], nodes: Mapping[str, Any]) -> Verdict:
    reasons: list[str] = []
    user = str(spec.get("username", ""))
    node = user.removeprefix(NODE_PREFIX) if user.startswith(NODE_PREFIX) else ""
    if node not in nodes:
        reasons.append(f"requester {user!r} is not system:node:<a node of the recipe>")
    if NODES not in (spec.get("groups") or []):
        reasons.append(f"requester is not in the group {NODES}")
    usages = frozenset(spec.get("usages") or [])
    if usages not in SERVING_USAGES:
        reasons.append(f"usages {sorted(usages)} are not a server's")
    try:
        pem = base64.b64decode(str(spec.get("request", "")), validate=True)
    except (binascii.Error, ValueError):
        pem = b""
    if node in nodes:
        for violation in csr_policy.review(pem, allowed_for(node, nodes[node])):
            reasons.append(str(violation))
    return Verdict(name, not reasons, tuple(one_line(r) for r in reasons))
