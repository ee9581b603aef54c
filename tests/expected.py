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
    "apiserver-kubelet-client": (
        [("CN", "kube-apiserver-kubelet-client"), ("O", "system:masters")],
        "client",
        [],
        [],
    ),
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
    *(f"kubelet-config-{n}.yaml" for n in NODES),
]

# kube-apiserver flags, from the kubernetes.io kube-apiserver reference (the binary is not
# installed here): the TLS flags the generated file must set, with the file each names.
KUBE_APISERVER_FLAGS = {
    "--client-ca-file": "ca.crt",
    "--tls-cert-file": "apiserver.crt",
    "--tls-private-key-file": "apiserver.key",
    "--etcd-cafile": "ca.crt",
    "--etcd-certfile": "apiserver-etcd-client.crt",
    "--etcd-keyfile": "apiserver-etcd-client.key",
    "--kubelet-certificate-authority": "ca.crt",
    "--kubelet-client-certificate": "apiserver-kubelet-client.crt",
    "--kubelet-client-key": "apiserver-kubelet-client.key",
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
