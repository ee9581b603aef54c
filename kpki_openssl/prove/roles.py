"""Which of the plan's certificates plays which part in prove's checks, found by what the plan
says about it — which flag names it, which CA signed it, its usages — never by a recipe's row
names.

The API server's files come first from its flags file (kube-apiserver's --tls-cert-file and the
others, or the names the source document uses for them, _NEAR_FLAGS). Where the recipe writes no
such file (kubeadm's) or the flag is missing, the plan answers:

- its serving certificate: the one the kubeconfigs are served by;
- its etcd client: a client-only certificate signed by the CA etcd trusts (--trusted-ca-file);
- its kubelet client: a client-only certificate, not a node's, signed by the CA the kubelets
  trust (authentication.x509.clientCAFile);
- the document's curl call: the first kubeconfig's files, or else a client certificate in group
  system:masters (failing that, any client-only one) signed by the API server's client CA.

Client-only: extendedKeyUsage clientAuth without serverAuth, and not a CA. Pure: the plan and
the flags read from the folder in, certificates out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.components import ComponentFile
from kpki_openssl.plan.steps import Plan
from kpki_openssl.prove.folder import match, parse_flags

NODE = "system:node:"  # the CN prefix of a kubelet's identity (the Node authorizer's)
ADMINS = "system:masters"  # the group that bypasses RBAC: the document's curl call's admin


@dataclass(frozen=True)
class TlsFlags:
    """kube-apiserver's three flags for one TLS identity: the CA it checks the other side
    with, its certificate and its key."""

    ca: str
    cert: str
    key: str


SERVING = TlsFlags("--client-ca-file", "--tls-cert-file", "--tls-private-key-file")
ETCD_CLIENT = TlsFlags("--etcd-cafile", "--etcd-certfile", "--etcd-keyfile")
KUBELET_CLIENT = TlsFlags(
    "--kubelet-certificate-authority", "--kubelet-client-certificate", "--kubelet-client-key"
)
# the front proxy: the CA the requestheader check trusts, and the client the API server
# presents to aggregated API servers (its requests carry the user in X-Remote-* headers)
FRONT_PROXY = TlsFlags(
    "--requestheader-client-ca-file", "--proxy-client-cert-file", "--proxy-client-key-file"
)

# flags the source document uses in place of kube-apiserver's own names
_NEAR_FLAGS = {
    "--etcd-cafile": ("--etcd-ca-file",),
    "--kubelet-certificate-authority": ("--kubelet-ca-file",),
    "--kubelet-client-certificate": ("--kubelet-certfile",),
    "--kubelet-client-key": ("--kubelet-keyfile",),
}


def near_flag(flags: Mapping[str, str], name: str) -> str:
    """The document's name for kube-apiserver's flag `name` when `flags` has it ('' if not)."""
    return next((a for a in _NEAR_FLAGS.get(name, ()) if a in flags), "")


def component_values(component: ComponentFile, *path: str) -> Iterator[str]:
    """The value a component file gives a flag (path: one --flag name) or a config field
    (path: the YAML keys down to it), when it gives one; verbatim flags files are read too."""
    if component.format == "flags":
        yield from (value for name, value in component.flags if (name,) == path)
    elif component.format == "verbatim":
        value = parse_flags(component.verbatim).get(path[0]) if len(path) == 1 else None
        if value is not None:
            yield value
    elif component.format == "yaml":
        node = component.data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str):
            yield node


class Roles:
    """The plan's certificates by part; `apiserver` is kube-apiserver's flags as the folder's
    flags file gives them ({} when there is none)."""

    def __init__(self, plan: Plan, apiserver: Mapping[str, str]) -> None:
        self.plan = plan
        self.apiserver = apiserver
        self._by_name = {c.name: c for c in plan.certs}
        self._by_file = {c.cert_file: c for c in plan.certs}

    def by_file(self, relative: str) -> CertSpec | None:
        """The certificate whose file this is (folder-relative)."""
        return self._by_file.get(relative)

    def named(self, value: str) -> CertSpec | None:
        """The certificate a path names (a host path, or a near miss such as apiserver.cr)."""
        found, _near = match(value, self._by_file)
        return self._by_file.get(found) if found else None

    def signer(self, spec: CertSpec | None) -> CertSpec | None:
        """The CA that signed `spec` (a self-signed CA is its own)."""
        if spec is None:
            return None
        return self._by_name.get(spec.ca) if spec.ca else spec

    def fallback(self, tls: TlsFlags, spec: CertSpec | None) -> dict[str, str]:
        """Each of the three flags -> the file the plan gives that part ('' when unknown): the
        CA that signed `spec`, its certificate and its key."""
        signer = self.signer(spec)
        return {
            tls.ca: signer.cert_file if signer else "",
            tls.cert: spec.cert_file if spec else "",
            tls.key: spec.key_file if spec else "",
        }

    def _flagged(self, tls: TlsFlags) -> CertSpec | None:
        """The certificate kube-apiserver's flag (or the document's name for it) names."""
        for name in (tls.cert, near_flag(self.apiserver, tls.cert)):
            if name and name in self.apiserver:
                return self.named(self.apiserver[name])
        return None

    @cached_property
    def serving(self) -> CertSpec | None:
        """The API server's serving certificate."""
        found = self._flagged(SERVING)
        if found is None and self.plan.kubeconfigs:
            found = self._by_name.get(self.plan.kubeconfigs[0].served_by)
        return found

    @cached_property
    def client_ca(self) -> CertSpec | None:
        """The CA the API server checks client certificates with."""
        if SERVING.ca in self.apiserver:
            found = self.named(self.apiserver[SERVING.ca])
            if found is not None:
                return found
        return self.signer(self.serving)

    @cached_property
    def etcd_client(self) -> CertSpec | None:
        """The API server's client certificate for etcd."""
        return self._flagged(ETCD_CLIENT) or self._client_of(
            [v for c in self._components("etcd") for v in component_values(c, "--trusted-ca-file")]
        )

    @cached_property
    def kubelet_client(self) -> CertSpec | None:
        """The API server's client certificate for the kubelets."""
        return self._flagged(KUBELET_CLIENT) or self._client_of(
            [
                v
                for c in self._components("kubelet")
                for v in component_values(c, "authentication", "x509", "clientCAFile")
            ]
        )

    @cached_property
    def front_proxy_client(self) -> CertSpec | None:
        """The API server's front-proxy client certificate (--proxy-client-cert-file)."""
        return self._flagged(FRONT_PROXY)

    @cached_property
    def front_proxy_ca(self) -> CertSpec | None:
        """The CA the API server's requestheader check trusts (--requestheader-client-ca-file),
        else the one that signed the front-proxy client."""
        if FRONT_PROXY.ca in self.apiserver:
            found = self.named(self.apiserver[FRONT_PROXY.ca])
            if found is not None:
                return found
        return self.signer(self.front_proxy_client)

    def curl_files(self) -> tuple[str, str, str] | None:
        """(key, certificate, CA) of the document's curl call, folder-relative."""
        if self.plan.kubeconfigs:
            first = self.plan.kubeconfigs[0]
            return first.key_file, first.cert_file, first.ca_file
        ca, signer = self.client_ca, self.signer(self.serving)
        clients = [c for c in self._clients() if ca is not None and c.ca == ca.name]
        admin = next((c for c in clients if ADMINS in c.organizations), None)
        chosen = admin or next(iter(clients), None)
        if chosen is None or signer is None:
            return None
        return chosen.key_file, chosen.cert_file, signer.cert_file

    def _components(self, program: str) -> list[ComponentFile]:
        return [c for c in self.plan.components if c.program == program]

    def _clients(self) -> list[CertSpec]:
        """Client-only certificates that are not a node's, in plan order."""
        return [
            c
            for c in self.plan.certs
            if not c.is_ca
            and "clientAuth" in c.extended_key_usage
            and "serverAuth" not in c.extended_key_usage
            and not c.common_name.startswith(NODE)
        ]

    def _client_of(self, ca_paths: list[str]) -> CertSpec | None:
        """The first client-only certificate signed by the CA the first of `ca_paths` names."""
        ca = next((found for p in ca_paths if (found := self.named(p)) is not None), None)
        if ca is None:
            return None
        return next((c for c in self._clients() if c.ca == ca.name), None)
