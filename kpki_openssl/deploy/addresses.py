"""The address each host of `hosts` has, read from the recipe's variables. Pure.

A recipe names addresses by role, not by host, so each role has its rule:

- a node (kubelet, kube-proxy): its entry in `node_ips` (node01=10.0.0.11);
- the i-th etcd member (in `hosts` order, which is `etcd_peers` order): the i-th address of
  `etcd_ips` that is not a loopback one (they are the IP SANs of every etcd certificate);
- the i-th control-plane host (kube-apiserver): the i-th address of `apiserver_ips` that is
  neither the Service IP nor a loopback one: the address it advertises.

The Service IP is the first address of `service_cidr` when `apiserver_ips` holds it (the
recipe makes it the first). A host the rules give no address to is listed with the variable
to set; one with two roles has every address they give it, the first one first.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from kpki_openssl.deploy.hosts import Layout
from kpki_openssl.plan.steps import Plan

ETCD = "etcd"
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE = ("kubelet", "kube-proxy")


@dataclass(frozen=True)
class HostAddresses:
    """Every host's addresses (the first is the one it is reached at) and why a host has none."""

    hosts: dict[str, tuple[str, ...]]
    missing: dict[str, str]  # host -> what to set so it has one (the same words for a role)
    service_ip: str  # the kubernetes Service's address ('' when the recipe gives none)

    def address(self, host: str) -> str:
        """The address the host is reached at ('' when it has none)."""
        return (self.hosts.get(host) or ("",))[0]


def role(programs: tuple[str, ...]) -> str:
    """etcd, control_plane, nodes or other: the first role a host's programs give it."""
    if ETCD in programs:
        return "etcd"
    if set(programs) & set(CONTROL_PLANE):
        return "control_plane"
    if set(programs) & set(NODE):
        return "nodes"
    return "other"


def _ips(value: object) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else ()
    return [str(v) for v in items if _is_ip(str(v))]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _loopback(text: str) -> bool:
    return ipaddress.ip_address(text).is_loopback


def service_ip(plan: Plan) -> str:
    """The first address of `service_cidr` when `apiserver_ips` lists it; '' otherwise."""
    cidr = plan.values.get("service_cidr")
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return ""
    first = str(network.network_address + 1)
    return first if first in _ips(plan.values.get("apiserver_ips")) else ""


def host_addresses(plan: Plan, layout: Layout) -> HostAddresses:
    """Each host's addresses by the rules above."""
    service = service_ip(plan)
    etcd_ips = [ip for ip in _ips(plan.values.get("etcd_ips")) if not _loopback(ip)]
    advertised = [
        ip for ip in _ips(plan.values.get("apiserver_ips")) if ip != service and not _loopback(ip)
    ]
    node_ips = plan.values.get("node_ips")
    node_ips = node_ips if isinstance(node_ips, dict) else {}
    found: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    members = [h for h in layout.hosts if ETCD in h.programs]
    planes = [h for h in layout.hosts if "kube-apiserver" in h.programs]
    for host in layout.hosts:
        wanted: list[str] = []
        why: list[str] = []
        if host in members:
            i = members.index(host)
            if i < len(etcd_ips):
                wanted.append(etcd_ips[i])
            else:
                why.append("set etcd_ips: one address per etcd member, not a loopback one")
        if host in planes:
            i = planes.index(host)
            if i < len(advertised):
                wanted.append(advertised[i])
            else:
                why.append("set apiserver_ips: the address it advertises, after the Service IP")
        if set(host.programs) & set(NODE):
            ip = node_ips.get(host.name)
            if ip and _is_ip(str(ip)):
                wanted.append(str(ip))
            elif not wanted:
                why.append("set node_ips=NODE=IP,...")
        if wanted:
            found[host.name] = tuple(dict.fromkeys(wanted))
        else:
            missing[host.name] = "; ".join(why) or "no variable of the recipe gives it one"
    return HostAddresses({h: tuple(a) for h, a in found.items()}, missing, service)
