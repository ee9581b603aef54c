"""The `apiserver` group: an openssl s_server presents the API server's certificate (its
--tls-cert-file and key, asking for a client certificate from its --client-ca-file; roles.py
when the recipe writes no flags file), and the clients meet it:

- kubectl with each kubeconfig, dialling the host its server URL names;
- kubectl with the first kubeconfig, and the document's curl call, by every name the API server
  is given (its certificate's SANs and the kubeconfigs' hosts);
- the first kubeconfig with a client certificate from another CA, which must be refused — tried
  only when the legitimate client got in.

When there is nothing to serve, kubectl can still say whether it loads each kubeconfig.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.prove import curl, kubectl, s_server
from kpki_openssl.prove.context import Context
from kpki_openssl.prove.results import (
    ACCEPT,
    FAIL,
    NOT_BUILT,
    NOT_RUN,
    REFUSE,
    UNPROVEN,
    Check,
)
from kpki_openssl.prove.roles import SERVING

PODS = "/api/v1/pods"
FOREIGN = "with a client certificate from another CA"


def run(context: Context) -> None:
    """Serve the API server's certificate and let every client dial it."""
    spec = context.roles.serving
    kubeconfigs = kubeconfig_files(context)
    if not context.apiserver and spec is None:
        return
    client_ca, cert, key = context.apiserver_files(SERVING, spec, order="cert key ca")
    shown = cert.name if cert is not None else spec.cert_file if spec is not None else ""
    if shown:
        context.server[context.group] = (
            f"openssl s_server presenting {shown}, answering a fixed PodList: TLS only, "
            "no kube-apiserver, no RBAC"
        )
    start = context.check(
        "openssl s_server presents the apiserver certificate", "openssl", ACCEPT, add=False
    )
    if any(p is None or not p.is_file() for p in (cert, key, client_ca)):
        _nothing_to_serve(context, start, spec, kubeconfigs)
        return
    assert cert is not None and key is not None and client_ca is not None
    with s_server.serving(context, start, cert, key, client_ca) as port:
        if port is not None:
            _dial(context, port, names(spec, kubeconfigs), kubeconfigs)


def _nothing_to_serve(
    context: Context, start: Check, spec: CertSpec | None, kubeconfigs: list[tuple[str, Path, str]]
) -> None:
    wanted = [spec.cert_file, spec.key_file] if spec is not None else []
    absent = [f for f in wanted if not (context.out / f).is_file()]
    later = [f"{f} {context.later(f)}" for f in absent if context.later(f)]
    if absent and len(later) == len(absent):  # a later step makes them: not a failure
        context.not_run[context.group] = "no server to start: " + "; ".join(later)
        start.tool(NOT_BUILT, "nothing to serve: " + "; ".join(later))
    else:
        start.tool(
            FAIL,
            "nothing to serve: "
            + (
                f"{', '.join(absent)} not in the folder (its step did not finish)"
                if absent
                else f"a file {context.apiserver_file} names is missing"
            ),
        )
    context.add(start)
    for label, path, _host in kubeconfigs:  # kubectl can still read each kubeconfig
        kubectl.view(context, label, path)


def _dial(
    context: Context, port: int, names: list[str], kubeconfigs: list[tuple[str, Path, str]]
) -> None:
    for label, path, host in kubeconfigs:
        _kubeconfig(context, label, path, host, port)
    first = context.plan.kubeconfigs[0] if context.plan.kubeconfigs else None
    reached = False
    for name in names:
        if first is not None:
            check = _kubeconfig(
                context, first.file, context.out / first.file, name, port, f"by the name {name}"
            )
            reached = reached or check.passed
        curl.call(context, name, port)
    if first is None:
        return
    if not reached:
        what = f"kubectl --kubeconfig {first.file} {FOREIGN}"
        context.check(what, "kubectl", REFUSE).tool(NOT_RUN, UNPROVEN)
        return
    _fca, fcert, fkey = context.foreign_client()
    _kubeconfig(
        context, first.file, context.out / first.file, names[0], port, FOREIGN,
        client=(fcert, fkey), expect=REFUSE,
    )  # fmt: skip


def _kubeconfig(
    context: Context,
    label: str,
    path: Path,
    host: str,
    port: int,
    tag: str = "",
    client: tuple[Path, Path] | None = None,
    expect: str = ACCEPT,
) -> Check:
    """kubectl --kubeconfig `label` dialling `host`; with `client`, presenting that instead."""
    what = f"kubectl --kubeconfig {label}" + (f" {tag}" if tag else f" (dials {host})")
    check = context.check(what, "kubectl", expect)
    if not path.is_file():
        kubectl.absent(context, check, label)
        return check
    program = context.program(check, "kubectl")
    if program is None:
        return check
    config: Path | None = kubectl.mapped(context, path, label)
    if client is not None:
        config = kubectl.with_client(context, config, label, client)
        if config is None:
            check.tool(NOT_RUN, f"{label} does not parse: no user to replace")
            return check
    argv = (program, f"--kubeconfig={config}", *kubectl.server(port, host), "get", "--raw", PODS)
    kubectl.get_raw(context, check, argv, lambda out: '"PodList"' in out, "PodList")
    if expect == REFUSE and check.passed and "tls:" not in check.said:
        check.status = FAIL  # refused, but not by the TLS handshake: proves nothing
    return check


def names(spec: CertSpec | None, kubeconfigs: list[tuple[str, Path, str]]) -> list[str]:
    """Every name the API server is given: its certificate's SANs, then each host a
    kubeconfig dials (a shell placeholder such as ${KUBELET_HOSTNAME} left out)."""
    found = list(spec.sans.dns) + list(spec.sans.ips) if spec is not None else []
    for _label, _path, host in kubeconfigs:
        if host and host not in found and "$" not in host:
            found.append(host)
    return found


def kubeconfig_files(context: Context) -> list[tuple[str, Path, str]]:
    """(file, path, host its server URL names) for each kubeconfig of the plan, the
    document's verbatim ones (component files kubectl reads) included."""
    out = [(k.file, context.out / k.file, _host(k.server)) for k in context.plan.kubeconfigs]
    for comp in context.plan.components:
        if comp.program == "kubectl":
            path = context.out / comp.file
            out.append((comp.file, path, _host(_server_in(path))))
    return out


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _server_in(path: Path) -> str:
    """The first `server:` of a kubeconfig read as text (it may not parse as YAML)."""
    try:
        for line in path.read_text(errors="replace").splitlines():
            if line.strip().startswith("server:"):
                return line.split("server:", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""
