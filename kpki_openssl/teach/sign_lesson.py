"""`explain sign`: what `sign` checks before it signs a CSR made elsewhere, where Kubernetes
states each rule, and why the certificate's extensions never come from the CSR."""

from __future__ import annotations

import textwrap

# (check, what makes a CSR fail it, where the rule comes from)
RULES = (
    (
        "signature",
        "its self-signature does not verify with the key it carries",
        "PKCS#10 (RFC 2986): the requester proves it holds the key. openssl req -verify prints "
        "'verify failure' but exits 0 (OpenSSL 3.0), so sign checks it itself",
    ),
    (
        "signature hash",
        "SHA-1 or anything weaker than SHA-256",
        "Go's crypto/x509, in every Kubernetes component and etcd, refuses SHA-1 signatures",
    ),
    (
        "key",
        "another type, size or curve than the recipe's (RSA 1024 for RSA 2048)",
        "the recipe's key_type, key_size, ecdsa_curve (kubeadm: encryptionAlgorithm)",
    ),
    (
        "key",
        "the key of a CA, of another step, or of another CSR of the same batch",
        "a key is one identity: a node holding the CA's key could sign anything",
    ),
    (
        "subject CN",
        "not exactly the row's CN (another node's name)",
        "ValidateKubeletClientCSR/ValidateKubeletServingCSR (pkg/apis/certificates/helpers.go): "
        "CN system:node:<name>; the selfnodeclient approver: user name = CN",
    ),
    (
        "subject O",
        "not exactly the row's O list (order aside); system:masters for a node",
        'helpers.go: reflect.DeepEqual([]string{"system:nodes"}, Organization); the '
        "CertificateSubjectRestriction admission plugin refuses system:masters for "
        "kube-apiserver-client",
    ),
    (
        "subject",
        "any other name part (OU, C, emailAddress, a multi-valued part)",
        "helpers.go compares O exactly; sign compares the whole subject",
    ),
    (
        "SAN",
        "any SAN on a client certificate",
        "ValidateKubeletClientCSR: no DNS, IP, email or URI subjectAltNames",
    ),
    (
        "SAN",
        "a server's DNS names and IPs not exactly the row's (kubernetes.default, "
        "10.96.0.1 asked by a node)",
        "ValidateKubeletServingCSR needs one DNS name or IP; the CSR page: an approver must check "
        "the requested names are the node's own",
    ),
    (
        "SAN email / URI",
        "any email or URI SAN",
        "helpers.go: emailSANNotAllowedErr, uriSANNotAllowedErr",
    ),
    (
        "basicConstraints",
        "CA:TRUE",
        "never copied: signed with -copy_extensions copyall (Kubernetes The Hard Way) it makes "
        "the node a CA (see prove's hostile-csr check)",
    ),
    (
        "keyUsage / extendedKeyUsage",
        "a usage the row does not give",
        "helpers.go: the usages of a kubelet client or serving CSR are exactly fixed",
    ),
    ("extension", "any other extension or CSR attribute", "nothing of the CSR is copied"),
)

TEXT = """\
sign: certificates for keys made elsewhere

A node makes its own key and CSR (export --node NODE) and sends only the CSR. `sign CSR...
--out DIR` maps each CSR to one step of the recipe by its file name and signs it with that
step's own command, the one run uses:

  openssl x509 -req -in NAME.csr -CA CA.crt -CAkey CA.key -days N -extfile NAME.cnf \\
      -extensions v3_req -out NAME.crt

The subject and the key come from the CSR, checked; the extensions (basicConstraints CA:FALSE,
keyUsage, extendedKeyUsage, the SANs) come from the recipe's NAME.cnf, never from the CSR; the
validity from the recipe. Before anything is written every CSR is checked, one line for each
problem; one refused CSR and nothing is signed. The CSR is copied in as it is and never
rewritten, the new certificate must carry the CSR's public key, and the folder's record marks
the step as signed from a CSR: run neither re-signs it nor makes a key for it (run --force
re-signs the same CSR; --new-keys is refused: the key lives on the node).

Without the extension file, `openssl x509 -req` (the script kubeadm documents for its
generate-csr output) makes a version 1 certificate without SANs on OpenSSL 3.0; with
-copy_extensions copyall it copies whatever the CSR asks for, CA:TRUE included.

What each CSR must satisfy:
"""


def text(width: int = 100) -> str:
    """The lesson: how sign works, then each rule with where Kubernetes states it."""
    out = [TEXT]
    for check, fails, source in RULES:
        out.append(f"\n  {check}: refused when {fails}\n")
        out.append(textwrap.fill(source, width, initial_indent="      ",
                                 subsequent_indent="      ") + "\n")  # fmt: skip
    out.append(
        "\nThe same checks approve kubelet-serving CSRs in the bootstrap kit "
        "(--set kubelet_bootstrap=yes: approve-kubelet-serving.sh, review-csrs).\n"
    )
    return "".join(out)
