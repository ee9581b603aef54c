"""Address-range rules between recipe variables: the service CIDR and the IPs that must sit in it.

The API server gives the `kubernetes` Service the first address of --service-cluster-ip-range,
and pods dial that address expecting it in apiserver.crt; the cluster DNS Service must get an
address from the same range; and the range itself must be one kube-apiserver takes (8 to 2^20
addresses). A CIDR variable says which lists it governs (`first_address`, `contains`); a value
that breaks a rule is refused in one line, before anything is planned.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from kpki_openssl.base.errors import InputError
from kpki_openssl.recipe.model import Recipe, VariableValue

# kube-apiserver's own limits on --service-cluster-ip-range, from its source
# (cmd/kube-apiserver/app/options/validation.go, validateClusterIPFlags: "maxCIDRBits := 20",
# validateMaxCIDRRange: "specified --service-cluster-ip-range is too large; for %d-bit
# addresses, the mask must be >= %d"; skipped only when the MultiCIDRServiceAllocator and
# DisableAllocatorDualWrite feature gates are both on), and pkg/controlplane/apiserver/options
# ServiceIPRange: "the service cluster IP range must be at least 8 IP addresses"; the kubernetes
# Service then takes GetIndexedIP(range, 1), the network address + 1, as the Kubernetes
# documentation's "Extend Service IP Ranges" task says ("calculates the first IP address from
# the default ServiceCIDR range and uses that IP address as its cluster IP address").
MAX_HOST_BITS = 20  # IPv4 /12 or longer, IPv6 /108 or longer
MIN_ADDRESSES = 8  # IPv4 /29 or shorter, IPv6 /125 or shorter


def service_range(field: str, cidr: str) -> None:
    """Refuse a Service range kube-apiserver refuses: more than 2^20 or fewer than 8
    addresses (so its first address, network + 1, is always inside it)."""
    network = ipaddress.ip_network(cidr, strict=False)
    bits = network.max_prefixlen - network.prefixlen
    if bits > MAX_HOST_BITS:
        raise InputError(
            f"{field}: {cidr!r} is too large: kube-apiserver takes a --service-cluster-ip-range "
            f"of at most 2^{MAX_HOST_BITS} addresses (IPv{network.version}: a mask of "
            f"/{network.max_prefixlen - MAX_HOST_BITS} or longer)"
        )
    if network.num_addresses < MIN_ADDRESSES:
        raise InputError(
            f"{field}: {cidr!r} is too small: kube-apiserver needs a --service-cluster-ip-range "
            f"of at least {MIN_ADDRESSES} addresses (IPv{network.version}: a mask of "
            f"/{network.max_prefixlen - 3} or shorter)"
        )


def first_host(cidr: str) -> str:
    """The first usable address of a range: 10.96.0.0/12 -> 10.96.0.1."""
    network = ipaddress.ip_network(cidr, strict=False)
    return str(network.network_address + 1)


def check(recipe: Recipe, values: Mapping[str, VariableValue]) -> None:
    """Every `first_address` / `contains` rule of the recipe's CIDR variables holds."""
    for var in recipe.variables.values():
        if not var.first_address and not var.contains:
            continue
        cidr = str(values[var.name])
        service_range(var.name, cidr)
        network = ipaddress.ip_network(cidr, strict=False)
        if var.first_address:
            _first(var.name, cidr, var.first_address, values)
        for name in var.contains:
            for i, ip in enumerate(_items(var.name, name, values)):
                if ipaddress.ip_address(ip) not in network:
                    raise InputError(
                        f"{name}[{i}]: {ip!r} is outside {var.name} {cidr} (a Service IP "
                        "the API server can never assign)"
                    )


def _first(cidr_var: str, cidr: str, name: str, values: Mapping[str, VariableValue]) -> None:
    items = _items(cidr_var, name, values)
    want = first_host(cidr)
    if not items or items[0] != want:
        got = repr(items[0]) if items else "nothing"
        raise InputError(
            f"{name}[0]: {got} is not {want}, the first address of {cidr_var} {cidr}: the "
            f"API server gives the kubernetes Service {want}, which must be a SAN of its "
            "certificate"
        )


def _items(cidr_var: str, name: str, values: Mapping[str, VariableValue]) -> tuple[str, ...]:
    value = values.get(name)
    if not isinstance(value, tuple):
        raise InputError(f"variables.{cidr_var}: {name!r} is not a list variable")
    return value
