"""`explain rotate-ca`: how a CA (and the service-account key pair) is rotated in three stages a
running cluster survives, and why in that order; the file names are the plan's.

The paragraphs are shared: `walkthrough --rotate-ca` puts each stage's on its stage page
(`stage_paragraph`, and under their headings `WHY_TRUST_FIRST`, `why_etcd`, `why_signer`)."""

from __future__ import annotations

import textwrap

from kpki_openssl.plan import rotation
from kpki_openssl.plan.steps import Plan

TRUST_FIRST = "Why trust comes before presentation"
ETCD_ROLLING = "Why etcd needs a rolling restart"
SINGLE_SIGNER = "Why the signer needs a single certificate"

WHY_TRUST_FIRST = (
    "A program accepts a certificate only from a CA it already trusts. If a server "
    "presented a certificate from the new CA before its clients held the bundle, every "
    "client would refuse it: 'x509: certificate signed by unknown authority'. The same "
    "holds the other way: a client certificate from the new CA is refused by a server "
    "that trusts the old CA only. So every verifier gets both CAs first (trust), then "
    "the certificates change (switch), and only when nothing is left on the old CA does "
    "its trust go (remove). `prove --only rotation` shows the refusal a skipped stage "
    "causes: a client trusting only the new CA against a server still on the old one."
)

LIMITS = (
    "What is shown here and what is not: etcd, etcdctl, kubectl (against an etcd member "
    "standing in as the TLS endpoint) and curl are run by prove --only rotation; "
    "prove --only rotation-ca and --only rotation-front-proxy start an etcd standing in "
    "for kube-apiserver from its flags after each stage and ask kubectl with every "
    "kubeconfig and curl with the front-proxy client; kube-apiserver, "
    "kube-controller-manager and kubelet are not on this machine, so when they re-read "
    "a file is taken from the Kubernetes reference."
)


def _para(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), 96, break_on_hyphens=False) + "\n\n"


def stage_paragraph(plan: Plan, name: str, stage: str) -> str:
    """What `stage` of CA (or key pair) `name`'s rotation writes, with the plan's file names."""
    if rotation.is_keypair(plan, name):
        return _key_stages(plan, name)[stage]
    f = rotation.files(plan, name)
    return {
        "trust": f"trust: a new CA ({f.new.cert_file}) beside the old, and a bundle ({f.bundle}, "
        "old then new) in every place that checks a certificate: flags files, kubeconfigs' "
        "CA data, the kubelet configuration, etcd's trust files. Nothing presents a "
        "certificate from the new CA yet.",
        "switch": f"switch: every certificate {name} signs is signed again by the new CA with "
        "its kept key (the same openssl x509 -req ... -extfile command as run). Every "
        "verifier still trusts both, so old and new certificates are accepted side by side.",
        "remove": f"remove: the new CA takes the old one's file names ({f.ca.cert_file}), every "
        "file names them again as the recipe writes them, so the old CA is trusted nowhere; its "
        "files are kept under .kpki/replaced/. Refused while any certificate still chains "
        "to the old CA (give nodes' certificates with --cert).",
    }[stage]


def _key_stages(plan: Plan, name: str) -> dict[str, str]:
    k = rotation.key_files(plan, name).pair
    return {
        "trust": f"trust adds {k.base}-new.pub as a second --service-account-key-file "
        "(kube-apiserver takes the flag more than once)",
        "switch": "switch moves kube-apiserver's --service-account-signing-key-file and the "
        f"controller manager's --service-account-private-key-file to {k.base}-new.key",
        "remove": "remove drops the old public key, but only after the longest token lifetime "
        "has passed since switch: until then a token signed with the old key is still in use.",
    }


def why_etcd(plan: Plan) -> str:
    """Why etcd's members restart one at a time, naming this recipe's members."""
    etcd = [c.file for c in plan.components if c.program == "etcd"]
    return (
        "etcd reads --trusted-ca-file and --peer-trusted-ca-file only when it starts (its "
        "own certificate it reads again on every handshake). So after trust and after "
        "remove, each member must be restarted to take the new trust files. Restart them "
        "one at a time and check each is healthy before the next: a majority of the members "
        "must stay up, or the cluster stops accepting writes."
        + (f" This recipe's members: {', '.join(etcd)}." if etcd else "")
    )


def why_signer(plan: Plan, f: rotation.Files) -> str:
    """Why kube-controller-manager's signer is a single certificate, and which one it is."""
    signer = (
        f"During the rotation its flags name {f.signer}, a copy of one CA: the old one at "
        "trust, the new one from switch on."
        if rotation.needs_signer(plan, f)
        else "This recipe gives the controller manager no signing CA."
    )
    return (
        "kube-controller-manager signs certificate requests with --cluster-signing-cert-file "
        "and --cluster-signing-key-file. The certificate must be the one CA whose key it "
        "signs with: a bundle there cannot be used (kubeadm#1350), and its --client-ca-file "
        "is documented as one certificate too. " + signer
    )


def text(plan: Plan) -> str:
    """The lesson, with this recipe's CAs, key pairs and file names."""
    cas = rotation.rotatable(plan)
    if not cas:
        return "This recipe makes no self-signed CA: there is nothing for rotate-ca to rotate.\n"
    f = rotation.files(plan, cas[0].name)
    out = ["rotate-ca: a CA rotation a running cluster survives\n\n"]
    names = ", ".join(c.name for c in cas)
    pairs = ", ".join(k.name for k in plan.keypairs)
    out.append(
        _para(
            f"This recipe's CAs: {names}"
            + (f"; its key pairs: {pairs}" if pairs else "")
            + ". Each rotates on its own, in three stages: kpki-openssl rotate-ca NAME --stage "
            "trust, then switch, then remove. Without --stage it says where the folder stands."
        )
    )
    out.append("The stages (for " + cas[0].name + ")\n\n")
    out += [_para(stage_paragraph(plan, cas[0].name, s)) for s in rotation.STAGES]
    out.append(f"{TRUST_FIRST}\n\n")
    out.append(_para(WHY_TRUST_FIRST))
    out.append(f"{ETCD_ROLLING}\n\n")
    out.append(_para(why_etcd(plan)))
    out.append(f"{SINGLE_SIGNER}\n\n")
    out.append(_para(why_signer(plan, f)))
    if plan.keypairs:
        k = plan.keypairs[0]
        out.append("The service-account key pair\n\n")
        out.append(_para(f"rotate-ca {k.name}: " + "; ".join(_key_stages(plan, k.name).values())))
    out.append(_para(LIMITS))
    return "".join(out).rstrip() + "\n"
