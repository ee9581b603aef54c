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
