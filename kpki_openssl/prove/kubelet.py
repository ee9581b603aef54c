"""The `kubelet` group: for each KubeletConfiguration in the folder, an openssl s_server presents
its serving certificate (tlsCertFile, tlsPrivateKeyFile, asking for a client certificate from
authentication.x509.clientCAFile), and kubectl holding the API server's kubelet client files
(--kubelet-certificate-authority, --kubelet-client-certificate, --kubelet-client-key; roles.py
when they are missing) asks it for /healthz by every name the API server may dial the node by:
the node's name, the certificate's IP SANs and the node's IP when the recipe gives one
(`node_ips`). kubectl is Go's TLS client, as the API server is.
"""

from __future__ import annotations

from pathlib import Path

from kpki_openssl.base import safeyaml
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.prove import kubectl, s_server
from kpki_openssl.prove.context import Context
from kpki_openssl.prove.results import ACCEPT, FAIL, words
from kpki_openssl.prove.roles import KUBELET_CLIENT, NODE

HEALTHZ = "/healthz"


def run(context: Context) -> None:
    """Serve each kubelet's certificate to the API server's kubelet client."""
    # the KubeletConfiguration files (a node's kubelet-NODE.flags only points at one)
    configs = [p for p in context.component("kubelet") if p.suffix in (".yaml", ".yml")]
    if not configs:
        context.not_run[context.group] = _why_none(context)
        return
    shown = ", ".join(p.name for p in configs)
    context.server[context.group] = (
        f"openssl s_server presenting the serving certificate each of {shown} names, answering "
        "a fixed ok at /healthz: TLS only, no kubelet, no authorization"
    )
    client = context.apiserver_files(KUBELET_CLIENT, context.roles.kubelet_client)
    for config in configs:
        _kubelet(context, config, client)


def _kubelet(
    context: Context, config: Path, client: tuple[Path | None, Path | None, Path | None]
) -> None:
    start = context.check(
        f"{config.name}: openssl s_server presents tlsCertFile", "openssl", ACCEPT, add=False
    )
    try:
        data = safeyaml.load_file(config, config.name) or {}
    except KpkiError as exc:
        start.tool(FAIL, f"not YAML: {words(str(exc))}")
        context.add(start)
        return
    x509 = ((data.get("authentication") or {}).get("x509") or {}) if isinstance(data, dict) else {}
    where, find = config.name, context.folder.find
    serving = find(str(data.get("tlsCertFile", "")), f"{where} tlsCertFile")
    serving_key = find(str(data.get("tlsPrivateKeyFile", "")), f"{where} tlsPrivateKeyFile")
    client_ca = find(str(x509.get("clientCAFile", "")), f"{where} clientCAFile")
    ca, cert, key = client
    if any(p is None or not p.is_file() for p in (serving, serving_key, client_ca, *client)):
        start.tool(FAIL, "a file it names is missing: nothing to serve")
        context.add(start)
        return
    assert serving is not None and serving_key is not None and client_ca is not None
    with s_server.serving(context, start, serving, serving_key, client_ca) as port:
        if port is None:
            return
        for name in names(context, context.cert_spec(serving)):
            what = f"{serving.name} by the name {name}, to the apiserver's kubelet client"
            check = context.check(what, "kubectl", ACCEPT)
            program = context.program(check, "kubectl")
            if program is None:
                continue
            argv = (
                program, *kubectl.server(port, name), f"--certificate-authority={ca}",
                f"--client-certificate={cert}", f"--client-key={key}", "get", "--raw", HEALTHZ,
            )  # fmt: skip
            kubectl.get_raw(context, check, argv, lambda out: out.strip() == "ok", "ok")


def names(context: Context, spec: CertSpec | None) -> list[str]:
    """The names the API server may dial a kubelet by, each once."""
    node = node_name(spec)
    given = context.plan.values.get("node_ips")
    ips = [given.get(node)] if isinstance(given, dict) else []
    found = [n for n in (node, *(spec.sans.ips if spec else ()), *ips) if n]
    return list(dict.fromkeys(found))


def node_name(spec: CertSpec | None) -> str:
    """The node a kubelet's serving certificate is for: the item its row was expanded for,
    the name in CN system:node:NAME, or its first DNS name."""
    if spec is None:
        return ""
    if spec.for_each:
        return spec.for_each[1]
    cn = spec.common_name
    return cn.split(NODE, 1)[1] if cn.startswith(NODE) else (spec.sans.dns or ("",))[0]


def _why_none(context: Context) -> str:
    """Why there is no KubeletConfiguration to read: a later step makes them, or none does."""
    files = [
        c.file
        for c in context.plan.components
        if c.program == "kubelet" and c.file.endswith((".yaml", ".yml"))
    ]
    later = [f"{f} {context.later(f)}" for f in files if context.later(f)]
    if later:
        return "no KubeletConfiguration yet: " + "; ".join(later)
    return "the plan makes no KubeletConfiguration"
