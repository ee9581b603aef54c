"""Kubeconfig files from the recipe's `kubeconfigs:` table: who connects, to what, with which
certificate. Pure: no I/O.

Two forms, one recipe variable apart. The path form names the certificate files (as the source
document does; a relative name resolves from the kubeconfig's own folder). The embedded form
carries the files' data, which only exists after the certificates are made, so it is produced the
way a person would: the same kubeconfig is written first, then `kubectl config set-cluster` and
`set-credentials` with `--embed-certs=true` replace each file name by its data. Dry-run, export and
the command log all show those commands; no key material ever appears in them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.certlist import CertSpec, RowMemo, expand_files, fill_lesson
from kpki_openssl.recipe import validate
from kpki_openssl.recipe.model import Departure, KubeconfigEntry, Recipe, VariableValue, yes_no
from kpki_openssl.recipe.template import fill

KUBECTL = "kubectl"


@dataclass(frozen=True)
class KubeconfigSpec:
    """One kubeconfig to write: every name and path decided, nothing left to look up."""

    file: str  # e.g. admin.kubeconfig (relative to the output folder); also the step name
    cluster: str
    user: str
    context: str
    server: str
    embed: bool
    ca_file: str  # the CA certificate in the output folder (ca.crt)
    cert_file: str  # the client certificate in the output folder (admin.crt)
    key_file: str  # the client key in the output folder (admin.key)
    ca_path: str  # path form: what certificate-authority says
    cert_path: str  # path form: what client-certificate says
    key_path: str  # path form: what client-key says
    client: str  # the client certificate's step name
    served_by: str  # the serving certificate's step name
    title: str
    explain: str
    document: tuple[str, ...]
    departures: tuple[Departure, ...]

    @property
    def needs(self) -> tuple[str, ...]:
        """Files the embedded form reads (the path form reads nothing)."""
        return (self.ca_file, self.cert_file, self.key_file)


def expand(
    recipe: Recipe, values: Mapping[str, VariableValue], certs: tuple[CertSpec, ...]
) -> tuple[KubeconfigSpec, ...]:
    """Every kubeconfig of the recipe, templates filled, each checked against the certificates."""
    by_name = {c.name: c for c in certs}
    return expand_files(
        "kubeconfigs", recipe.kubeconfigs, values, lambda e, ctx, memo: _spec(e, ctx, by_name, memo)
    )


def _spec(
    entry: KubeconfigEntry,
    ctx: Mapping[str, VariableValue],
    certs: Mapping[str, CertSpec],
    memo: RowMemo,
) -> KubeconfigSpec:
    where = f"kubeconfigs[{entry.file}]"
    file = fill(entry.file, ctx, f"{where}.file")
    where = f"kubeconfigs[{file}]"
    validate.file_base(f"{where}.file", file)
    validate.step_name(f"{where}.file", file)
    client = _cert(certs, fill(entry.client, ctx, f"{where}.client"), f"{where}.client")
    served_by = memo.once(
        "served_by",
        (entry.served_by,),
        lambda: _cert(
            certs, fill(entry.served_by, ctx, f"{where}.served_by"), f"{where}.served_by"
        ),
    )
    if client.is_ca or "clientAuth" not in client.extended_key_usage:
        raise InputError(
            f"{where}.client: certificate {client.name!r} is not a client certificate "
            "(its extendedKeyUsage lacks clientAuth)"
        )
    server = memo.once(
        "server", (entry.served_by, entry.server), lambda: _server(entry, ctx, where, served_by)
    )
    ca = certs[served_by.ca] if served_by.ca else served_by
    user = fill(entry.user, ctx, f"{where}.user") or client.common_name
    cluster = fill(entry.cluster, ctx, f"{where}.cluster")
    context = fill(entry.context, ctx, f"{where}.context") or f"{user}@{cluster}"
    for name, value in (("user", user), ("cluster", cluster), ("context", context)):
        _check_label(f"{where}.{name}", value)
    ca_dir, client_dir, embed = memo.once(
        "paths",
        (entry.ca_dir, entry.client_dir, entry.embed),
        lambda: (
            _folder(fill(entry.ca_dir, ctx, f"{where}.paths.ca"), f"{where}.paths.ca"),
            _folder(fill(entry.client_dir, ctx, f"{where}.paths.client"), f"{where}.paths.client"),
            yes_no(f"{where}.embed", fill(entry.embed, ctx, f"{where}.embed")),
        ),
    )
    return KubeconfigSpec(
        file=file,
        cluster=cluster,
        user=user,
        context=context,
        server=server,
        embed=embed,
        ca_file=ca.cert_file,
        cert_file=client.cert_file,
        key_file=client.key_file,
        ca_path=_join(ca_dir, ca.cert_file),
        cert_path=_join(client_dir, client.cert_file),
        key_path=_join(client_dir, client.key_file),
        client=client.name,
        served_by=served_by.name,
        **fill_lesson(entry, ctx, where, memo),
    )


def _server(
    entry: KubeconfigEntry, ctx: Mapping[str, VariableValue], where: str, served_by: CertSpec
) -> str:
    server = validate.https_url(f"{where}.server", fill(entry.server, ctx, f"{where}.server"))
    check_server_covered(where, server, served_by)
    return server


def check_server_covered(where: str, server: str, served_by: CertSpec) -> None:
    """The host a client dials must be a SAN of the server's certificate, or Go refuses it."""
    host, _port = validate.host_and_port(f"{where}.server", server)
    names = {n.lower() for n in served_by.sans.dns} | set(served_by.sans.ips)
    if host not in names:
        listed = ", ".join([*served_by.sans.dns, *served_by.sans.ips]) or "none"
        raise InputError(
            f"{where}.server: host {host!r} of {server!r} is not in the subjectAltName of "
            f"certificate {served_by.name!r} ({listed}); add it to that certificate's SANs "
            "or dial one of those names"
        )


def kubeconfig_document(spec: KubeconfigSpec, local: bool = False) -> dict:
    """The kubeconfig as data (apiVersion v1, kind Config) in the path form.

    `local` names the files as they are in the output folder (the starting point of the
    embedded form); otherwise the recipe's paths (beside the kubeconfig, or on the hosts)."""
    ca, cert, key = (
        (spec.ca_file, spec.cert_file, spec.key_file)
        if local
        else (spec.ca_path, spec.cert_path, spec.key_path)
    )
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": spec.cluster, "cluster": {"certificate-authority": ca, "server": spec.server}}
        ],
        "users": [{"name": spec.user, "user": {"client-certificate": cert, "client-key": key}}],
        "contexts": [
            {"name": spec.context, "context": {"cluster": spec.cluster, "user": spec.user}}
        ],
        "current-context": spec.context,
        "preferences": {},
    }


def kubeconfig_text(spec: KubeconfigSpec) -> str:
    """The file the plan writes: YAML (base.yamltext), with a one-line header comment."""
    from kpki_openssl.base import yamltext

    head = f"# {spec.file}: {' '.join(spec.title.split())}. Written by kpki_openssl.\n"
    if spec.embed:
        head += "# The kubectl --embed-certs commands below replace the file names by their data.\n"
    body = yamltext.dump(kubeconfig_document(spec, local=spec.embed))
    return head + body


def kubectl_argvs(spec: KubeconfigSpec, embed: bool, local: bool) -> tuple[tuple[str, ...], ...]:
    """`kubectl config set-cluster / set-credentials / set-context / use-context` for this file.

    With `embed`, the first two carry --embed-certs=true and must name files that exist where
    kubectl runs (`local`: the output folder)."""
    ca, cert, key = (
        (spec.ca_file, spec.cert_file, spec.key_file)
        if local
        else (spec.ca_path, spec.cert_path, spec.key_path)
    )
    target = f"--kubeconfig={spec.file}"
    embedding = ("--embed-certs=true",) if embed else ()
    return (
        (
            KUBECTL, "config", "set-cluster", spec.cluster,
            f"--server={spec.server}", f"--certificate-authority={ca}", *embedding, target,
        ),
        (
            KUBECTL, "config", "set-credentials", spec.user,
            f"--client-certificate={cert}", f"--client-key={key}", *embedding, target,
        ),
        (
            KUBECTL, "config", "set-context", spec.context,
            f"--cluster={spec.cluster}", f"--user={spec.user}", target,
        ),
        (KUBECTL, "config", "use-context", spec.context, target),
    )  # fmt: skip


def _cert(certs: Mapping[str, CertSpec], name: str, field: str) -> CertSpec:
    if name not in certs:
        raise InputError(f"{field}: unknown certificate {name!r}")
    return certs[name]


def _folder(value: str, field: str) -> str:
    return "" if value == "" else validate.host_path(field, value)


def _join(folder: str, name: str) -> str:
    if not folder:
        return name
    return f"{folder.rstrip('/')}/{name}"


def _check_label(field: str, value: str) -> None:
    """Names inside a kubeconfig: non-empty, one line, no characters a shell would expand."""
    if not value or any(c in value for c in "\n\r\t'\"`$\\ "):
        raise InputError(f"{field}: {value!r} is not a usable kubeconfig name")
