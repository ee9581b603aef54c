"""A certificate's subjectAltName as one value, from the recipe's `sans:` to the checks.

The recipe, the expanded certificate table, the .cnf writer, the build record, renew's
inputs and the checks all hold and print SANs through this type, so a new kind of name (a URI,
say) is added here and where the recipe is read, not in every module that shows a SAN.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubjectAltNames:
    """DNS names and IP addresses, each in the order given (templates, in a recipe row)."""

    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()

    @classmethod
    def from_x509(cls, extension: object | None) -> SubjectAltNames:
        """The DNS names and IP addresses of a cryptography SubjectAlternativeName (None: none)."""
        if extension is None:
            return cls()
        from cryptography import x509

        assert isinstance(extension, x509.SubjectAlternativeName)
        return cls(
            tuple(extension.get_values_for_type(x509.DNSName)),
            tuple(str(ip) for ip in extension.get_values_for_type(x509.IPAddress)),
        )

    def __len__(self) -> int:
        return len(self.dns) + len(self.ips)

    def __bool__(self) -> bool:
        return bool(self.dns or self.ips)

    def entries(self) -> tuple[str, ...]:
        """openssl's `TYPE:value` words, DNS names first: DNS:kubernetes, IP:10.96.0.1."""
        return (*(f"DNS:{d}" for d in self.dns), *(f"IP:{ip}" for ip in self.ips))

    def cnf_lines(self) -> list[str]:
        """The `[alt_names]` lines of a .cnf: DNS.1 = ..., IP.1 = ..."""
        return [
            *(f"DNS.{i} = {name}" for i, name in enumerate(self.dns, 1)),
            *(f"IP.{i} = {ip}" for i, ip in enumerate(self.ips, 1)),
        ]
