"""Address-range rules between recipe variables: the service CIDR and the IPs that must sit in it.

The API server gives the `kubernetes` Service the first address of --service-cluster-ip-range,
and pods dial that address expecting it in apiserver.crt; the cluster DNS Service must get an
address from the same range. A CIDR variable says which lists it governs (`first_address`,
`contains`); a value that breaks the rule is refused in one line, before anything is planned.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from kpki_openssl.base.errors import InputError
from kpki_openssl.recipe.model import Recipe, VariableValue


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
