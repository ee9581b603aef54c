"""What the bundled recipe must produce, written out by hand from the issue and the document.

Kept independent of the recipe file on purpose: a test that re-read our own plan could not fail.
"""

from __future__ import annotations

NODES = ("node01", "node02", "node03")
APISERVER_DNS = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "kube-apiserver",  # the document's kubeconfig/curl host, added to its alt_names
]
APISERVER_IPS = ["10.96.0.1", "172.17.0.87"]
SERVICE_CIDR = "10.96.0.0/12"  # its first address, 10.96.0.1, is the kubernetes Service's IP

# The CAs, self-signed: the cluster's, etcd's own (issue 12: etcd must not trust every cluster
# certificate) and the aggregation layer's (kubeadm's three).
CAS = ("ca", "etcd-ca", "front-proxy-ca")
KEYPAIRS = ("sa",)  # sa.key / sa.pub, no certificate

# file base -> (subject pairs, role, DNS SANs, IP SANs); role: client | server | both
LEAVES: dict[str, tuple[list[tuple[str, str]], str, list[str], list[str]]] = {
    "admin": ([("CN", "kube-admin"), ("O", "system:masters")], "client", [], []),
    "kube-scheduler": (
        [("CN", "system:kube-scheduler"), ("O", "system:kube-scheduler")],
        "client",
        [],
        [],
    ),
    "kube-controller-manager": (
        [("CN", "system:kube-controller-manager"), ("O", "system:kube-controller-manager")],
        "client",
        [],
        [],
    ),
    "kube-proxy": ([("CN", "system:kube-proxy"), ("O", "system:kube-proxy")], "client", [], []),
    "apiserver-etcd-client": ([("CN", "kube-apiserver-etcd-client")], "client", [], []),
    # no group: bound to system:kubelet-api-admin, not system:masters (least privilege)
    "apiserver-kubelet-client": ([("CN", "kube-apiserver-kubelet-client")], "client", [], []),
    "front-proxy-client": ([("CN", "front-proxy-client")], "client", [], []),
    "etcdserver": (
        [("CN", "etcdserver"), ("O", "system:etcdserver")],
        "both",
        ["etcdserver", "localhost"],
        ["127.0.0.1"],
    ),
    "etcdpeer1": (
        [("CN", "etcdserver"), ("O", "system:etcdpeer1")],
        "both",
        ["etcdpeer1", "localhost"],
        ["127.0.0.1"],
    ),
    "apiserver": ([("CN", "kube-apiserver")], "server", APISERVER_DNS, APISERVER_IPS),
}
# leaf -> the CA that signs it (every other leaf: ca)
SIGNERS = {
    "apiserver-etcd-client": "etcd-ca",
    "etcdserver": "etcd-ca",
    "etcdpeer1": "etcd-ca",
    "front-proxy-client": "front-proxy-ca",
}
for _node in NODES:
    LEAVES[f"kubelet-client-{_node}"] = (
        [("CN", f"system:node:{_node}"), ("O", "system:nodes")],
        "client",
        [],
        [],
    )
    LEAVES[f"kubelet-{_node}"] = (
        [("CN", f"system:node:{_node}"), ("O", "system:nodes")],
        "server",
        [_node],
        [],
    )

# kubeconfig file -> (client certificate base, user name, cluster name, context name)
KUBECONFIGS: dict[str, tuple[str, str, str, str]] = {
    "admin.kubeconfig": ("admin", "kubernetes-admin", "kubernetes", "kubernetes-admin@kubernetes"),
    "kube-scheduler.kubeconfig": (
        "kube-scheduler",
        "system:kube-scheduler",
        "kubernetes",
        "system:kube-scheduler@kubernetes",
    ),
    "kube-controller-manager.kubeconfig": (
        "kube-controller-manager",
        "system:kube-controller-manager",
        "kubernetes",
        "system:kube-controller-manager@kubernetes",
    ),
    "kube-proxy.kubeconfig": (
        "kube-proxy",
        "system:kube-proxy",
        "kubernetes",
        "system:kube-proxy@kubernetes",
    ),
}
for _node in NODES:
    KUBECONFIGS[f"kubelet-{_node}.kubeconfig"] = (
        f"kubelet-client-{_node}",
        f"kubelet-{_node}",
        "local",
        f"kubelet-{_node}-context",
    )
SERVER = "https://kube-apiserver:6443"

COMPONENT_FILES = [
    "etcd-etcdpeer1.flags",
    "kube-apiserver.flags",
    "kube-controller-manager.flags",
    "kube-scheduler.yaml",
    "kube-proxy.yaml",
    *(f"kubelet-{n}.flags" for n in NODES),
    *(f"kubelet-config-{n}.yaml" for n in NODES),
]

# Every flag the bundled recipe writes, with its value (the file name for a path) and where the
# reference says the flag exists. No kube-apiserver, kube-controller-manager or kubelet binary
# can be installed here, so the reference pages are the proof; a rename there must show here.
# Read with the search tool: kubernetes/website content/en/docs/reference/command-line-tools-
# reference/{kube-apiserver,kube-controller-manager}.md (the generated flag tables) and kubeadm's
# cmd/kubeadm/app/phases/controlplane/manifests.go (getAPIServerCommand,
# getControllerManagerCommand), which writes the same flags for the same files.
REF = "https://kubernetes.io/docs/reference/command-line-tools-reference/"
APISERVER_REF = REF + "kube-apiserver/"
CONTROLLER_MANAGER_REF = REF + "kube-controller-manager/"
KUBELET_REF = REF + "kubelet/"
ETCD_REF = "etcd --help (checked against the installed etcd in test_etcd_real.py)"
KUBE_APISERVER_FLAGS: dict[str, tuple[str, str]] = {
    "--client-ca-file": ("ca.crt", APISERVER_REF),
    "--tls-cert-file": ("apiserver.crt", APISERVER_REF),
    "--tls-private-key-file": ("apiserver.key", APISERVER_REF),
    "--etcd-servers": ("https://127.0.0.1:2379", APISERVER_REF),
    "--etcd-cafile": ("etcd-ca.crt", APISERVER_REF),
    "--etcd-certfile": ("apiserver-etcd-client.crt", APISERVER_REF),
    "--etcd-keyfile": ("apiserver-etcd-client.key", APISERVER_REF),
    "--kubelet-certificate-authority": ("ca.crt", APISERVER_REF),
    "--kubelet-client-certificate": ("apiserver-kubelet-client.crt", APISERVER_REF),
    "--kubelet-client-key": ("apiserver-kubelet-client.key", APISERVER_REF),
    # the reference's default is Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP
    "--kubelet-preferred-address-types": ("Hostname,InternalIP,ExternalIP", APISERVER_REF),
    "--service-account-issuer": ("https://kubernetes.default.svc.cluster.local", APISERVER_REF),
    # "File containing PEM-encoded x509 RSA or ECDSA private or public keys": no Ed25519
    "--service-account-key-file": ("sa.pub", APISERVER_REF),
    "--service-account-signing-key-file": ("sa.key", APISERVER_REF),
    "--service-cluster-ip-range": (SERVICE_CIDR, APISERVER_REF),
    "--authorization-mode": ("Node,RBAC", APISERVER_REF),  # reference default: AlwaysAllow
    "--enable-admission-plugins": ("NodeRestriction", APISERVER_REF),
    "--requestheader-client-ca-file": ("front-proxy-ca.crt", APISERVER_REF),
    "--requestheader-allowed-names": ("front-proxy-client", APISERVER_REF),
    "--requestheader-username-headers": ("X-Remote-User", APISERVER_REF),
    "--requestheader-group-headers": ("X-Remote-Group", APISERVER_REF),
    "--requestheader-extra-headers-prefix": ("X-Remote-Extra-", APISERVER_REF),
    "--proxy-client-cert-file": ("front-proxy-client.crt", APISERVER_REF),
    "--proxy-client-key-file": ("front-proxy-client.key", APISERVER_REF),
}
KUBE_CONTROLLER_MANAGER_FLAGS: dict[str, tuple[str, str]] = {
    "--kubeconfig": ("kube-controller-manager.kubeconfig", CONTROLLER_MANAGER_REF),
    "--authentication-kubeconfig": ("kube-controller-manager.kubeconfig", CONTROLLER_MANAGER_REF),
    "--authorization-kubeconfig": ("kube-controller-manager.kubeconfig", CONTROLLER_MANAGER_REF),
    "--client-ca-file": ("ca.crt", CONTROLLER_MANAGER_REF),
    "--requestheader-client-ca-file": ("front-proxy-ca.crt", CONTROLLER_MANAGER_REF),
    # "a PEM-encoded RSA or ECDSA private key used to sign cluster-scoped certificates"
    "--cluster-signing-cert-file": ("ca.crt", CONTROLLER_MANAGER_REF),
    "--cluster-signing-key-file": ("ca.key", CONTROLLER_MANAGER_REF),
    "--root-ca-file": ("ca.crt", CONTROLLER_MANAGER_REF),
    "--service-account-private-key-file": ("sa.key", CONTROLLER_MANAGER_REF),
    "--use-service-account-credentials": ("true", CONTROLLER_MANAGER_REF),
}
ETCD_FLAGS: dict[str, tuple[str, str]] = {
    "--name": ("etcdpeer1", ETCD_REF),
    "--cert-file": ("etcdserver.crt", ETCD_REF),
    "--key-file": ("etcdserver.key", ETCD_REF),
    "--trusted-ca-file": ("etcd-ca.crt", ETCD_REF),
    "--client-cert-auth": ("true", ETCD_REF),
    "--peer-cert-file": ("etcdpeer1.crt", ETCD_REF),
    "--peer-key-file": ("etcdpeer1.key", ETCD_REF),
    "--peer-trusted-ca-file": ("etcd-ca.crt", ETCD_REF),
    "--peer-client-cert-auth": ("true", ETCD_REF),
}
KUBELET_FLAGS: dict[str, tuple[str, str]] = {
    "--config": ("kubelet-config-node01.yaml", KUBELET_REF),
    "--kubeconfig": ("kubelet-node01.kubeconfig", KUBELET_REF),
}
# file -> its flag table (kubelet: node01's; the others differ only in the node name)
FLAG_FILES = {
    "kube-apiserver.flags": KUBE_APISERVER_FLAGS,
    "kube-controller-manager.flags": KUBE_CONTROLLER_MANAGER_FLAGS,
    "etcd-etcdpeer1.flags": ETCD_FLAGS,
    "kubelet-node01.flags": KUBELET_FLAGS,
}
# Config files: every key (dotted path) the generated file writes, and its reference.
SCHEDULER_CONFIG_REF = "https://kubernetes.io/docs/reference/config-api/kube-scheduler-config.v1/"
PROXY_CONFIG_REF = "https://kubernetes.io/docs/reference/config-api/kube-proxy-config.v1alpha1/"
KUBE_SCHEDULER_CONFIG = {
    "apiVersion": "kubescheduler.config.k8s.io/v1",
    "kind": "KubeSchedulerConfiguration",
    "clientConnection.kubeconfig": "kube-scheduler.kubeconfig",
    "leaderElection.leaderElect": True,
}
KUBE_PROXY_CONFIG = {
    "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
    "kind": "KubeProxyConfiguration",
    "clientConnection.kubeconfig": "kube-proxy.kubeconfig",
    "mode": "iptables",
}
# KubeletConfiguration (kubelet.config.k8s.io/v1beta1) fields, from its reference: every key the
# generated file may use (dotted paths).
KUBELET_CONFIG_FIELDS = {
    "kind",
    "apiVersion",
    "authentication",
    "authentication.anonymous",
    "authentication.anonymous.enabled",
    "authentication.webhook",
    "authentication.webhook.enabled",
    "authentication.x509",
    "authentication.x509.clientCAFile",
    "authorization",
    "authorization.mode",
    "clusterDomain",
    "clusterDNS",
    "resolvConf",
    "runtimeRequestTimeout",
    "tlsCertFile",
    "tlsPrivateKeyFile",
}
