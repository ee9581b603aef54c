"""verify's judgement of the kubeconfigs in a folder: every cluster, user and context, each
credential against the folder's files and CAs, and the server host against the API server's
SANs. Every check names the command that gives the same verdict by hand.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kpki_openssl.base.errors import KpkiError
from kpki_openssl.checks import certinfo, expected, kubeconfig_files
from kpki_openssl.checks.certinfo import CertInfo
from kpki_openssl.checks.verify_result import Check, ca_only, ca_only_command, expiry, show
from kpki_openssl.plan.certlist import CertSpec


@dataclass(frozen=True)
class Folder:
    """What every kubeconfig is judged against: the folder's certificates and the plan."""

    out: Path
    api: CertSpec | None
    api_info: CertInfo | None
    cas: dict[str, CertSpec]  # fingerprint -> the recipe's CA
    certs: dict[str, CertSpec]  # fingerprint -> the recipe's certificate
    now: datetime
    installed: dict[tuple[str, str], str]
    ca_files: frozenset[str]  # the CA files (each has its own ca-only check)
    want_ca: dict[str, tuple[str, str | None]]  # planned kubeconfig -> (CA file, fingerprint)


def kubeconfig_checks(folder: Folder, name: str) -> list[Check]:
    """Every cluster, user and context of the file, and its current-context: kubectl uses
    whichever the context names, so one foreign cluster or credential is enough to send the
    client certificate to a stranger, or to be someone else."""
    out = folder.out
    path = out / name
    if not os.path.lexists(path):
        return [Check(name, "exists", False, "missing", f"ls -l {shlex.quote(name)}")]
    try:
        text = certinfo.read_regular(name, cwd=out).decode("utf-8", errors="replace")
    except KpkiError as exc:
        why = str(exc).removeprefix(f"{name}: ")
        return [Check(name, "readable", False, why, f"ls -l {shlex.quote(name)}")]
    parsed = kubeconfig_files.parse(name, text)
    view = f"kubectl config view --kubeconfig {shlex.quote(name)} --raw"
    if parsed is None or not parsed.users:
        return [Check(name, "kubeconfig", False, "not a kubeconfig with a user", view)]
    checks: list[Check] = []
    for twice in parsed.duplicates:
        checks.append(
            Check(name, "names", False, f"{twice} is named twice (kubectl refuses the file)", view)
        )
    if any(u.key is not None and u.key.embedded for u in parsed.users):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        command = f"stat -c %a {shlex.quote(name)}"
        if mode & 0o077:
            problem = f"mode {mode:04o} with an embedded private key (want 0600)"
            checks.append(Check(name, "key-mode", False, problem, command))
        else:
            checks.append(Check(name, "key-mode", True, command=command))
    cas: dict[str, CertInfo | None] = {}
    for cluster in parsed.clusters:
        checks += _cluster(folder, name, cluster, view, cas)
    certs: dict[str, CertInfo | None] = {}
    for user in parsed.users:
        checks += _user(folder, name, user, view, certs)
    checks += _contexts(name, parsed, cas, certs, view)
    return checks


def _cluster(
    folder: Folder,
    name: str,
    cluster: kubeconfig_files.Cluster,
    view: str,
    cas: dict[str, CertInfo | None],
) -> list[Check]:
    """TLS on, the server's host among the API server's SANs, and the recipe's CA (alone)."""
    where = f"clusters[{cluster.name}]"
    tls = f"! {view} -o jsonpath='{{.clusters[*].cluster.insecure-skip-tls-verify}}' | grep -q true"
    checks = [
        Check(
            name,
            "tls",
            False,
            f"{where}: insecure-skip-tls-verify: kubectl would never check the server's "
            "certificate (anyone can be the API server)",
            tls,
        )
        if cluster.insecure
        else Check(name, "tls", True, command=tls)
    ]
    checks.append(_server_host(name, cluster.server, where, folder.api, folder.api_info, view))
    cred = _local(folder, name, cluster.ca)
    if cred is None:
        cas[cluster.name] = None
        checks.append(
            Check(
                name,
                "ca",
                False,
                f"{where}: no certificate-authority: kubectl would trust the system's CAs, and "
                "any server certificate they signed",
                f"{view} -o jsonpath='{{.clusters[*].cluster}}'",
            )
        )
        return checks
    ca = _credential_cert(folder, name, cred, "certificate-authority", checks)
    cas[cluster.name] = ca
    if ca is None:
        return checks
    command = _extract_command(name, cred, "-fingerprint -sha256")
    want_file, want = folder.want_ca.get(name, ("", None))
    if ca.fingerprint not in folder.cas:
        checks.append(Check(name, "ca", False, f"{cred.field}: not the folder's CA", command))
    elif want is not None and ca.fingerprint != want:
        checks.append(
            Check(name, "ca", False, f"{cred.field}: not {want_file}, the recipe's CA", command)
        )
    else:
        checks.append(Check(name, "ca", True, command=command))
    return checks


def _user(
    folder: Folder,
    name: str,
    user: kubeconfig_files.User,
    view: str,
    certs: dict[str, CertInfo | None],
) -> list[Check]:
    """The client certificate and key are the folder's, and nothing else authenticates."""
    where = f"users[{user.name}]"
    who = f".users[?(@.name=={json.dumps(user.name)})].user"
    fields = "".join(f"{{{who}.{k}}}" for k in kubeconfig_files.OTHER_CREDENTIALS)
    command = f'test -z "$({view} -o jsonpath={shlex.quote(fields)})"'
    checks = []
    if user.others:
        others = ", ".join(user.others)
        checks.append(
            Check(
                name,
                "credential",
                False,
                f"{where}: {others}: a credential other than the client certificate "
                "(kubectl would send it, or act as someone else)",
                command,
            )
        )
    else:
        checks.append(Check(name, "credential", True, command=command))
    cred = _local(folder, name, user.cert)
    certs[user.name] = None
    if cred is None:
        checks.append(
            Check(name, "client-certificate", False, f"{where} has no client certificate")
        )
        return checks
    cert = _credential_cert(folder, name, cred, "client-certificate", checks)
    if cert is None:
        return checks
    certs[user.name] = cert
    command = _extract_command(name, cred, "-fingerprint -sha256")
    if cert.fingerprint in folder.certs:
        checks.append(Check(name, "client-certificate", True, command=command))
    else:
        checks.append(
            Check(
                name,
                "client-certificate",
                False,
                f"{cred.field}: none of the folder's certificates",
                command,
            )
        )
    checks.append(expiry(name, cert, folder.now, _extract_command(name, cred, "-checkend 0")))
    checks.append(_kubeconfig_key(folder, name, user, cred, cert))
    return checks


def _contexts(
    name: str,
    parsed: kubeconfig_files.Kubeconfig,
    cas: dict[str, CertInfo | None],
    certs: dict[str, CertInfo | None],
    view: str,
) -> list[Check]:
    """Each context names a cluster and a user of the file, the user's certificate issued by
    that cluster's CA; current-context names one of them."""
    checks = []
    clusters = {c.name for c in parsed.clusters}
    users = {u.name for u in parsed.users}
    command = f"{view} -o jsonpath='{{.contexts}}'"
    for ctx in parsed.contexts:
        where = f"contexts[{ctx.name}]"
        if ctx.cluster not in clusters or ctx.user not in users:
            missing = (
                f"cluster {ctx.cluster!r}" if ctx.cluster not in clusters else f"user {ctx.user!r}"
            )
            checks.append(Check(name, "context", False, f"{where}: {missing} is not in the file"))
            continue
        ca, cert = cas.get(ctx.cluster), certs.get(ctx.user)
        if ca is not None and cert is not None and cert.issuer != ca.subject:
            checks.append(
                Check(
                    name,
                    "issuer",
                    False,
                    f"{where}: users[{ctx.user}]'s certificate is issued by {cert.issuer}, "
                    f"not by clusters[{ctx.cluster}]'s CA {ca.subject}",
                    command,
                )
            )
        else:
            checks.append(Check(name, "context", True, command=command))
    current = f"kubectl config view --kubeconfig {shlex.quote(name)} --minify > /dev/null"
    if parsed.current not in {c.name for c in parsed.contexts}:
        problem = (
            f"current-context {parsed.current!r} names no context of the file"
            if parsed.current
            else "no current-context: kubectl would use no cluster and no user of this file"
        )
        checks.append(Check(name, "current-context", False, problem, current))
    else:
        checks.append(Check(name, "current-context", True, command=current))
    return checks


def _local(folder: Folder, name: str, cred):
    """A referenced credential, with its path replaced by where it is in the folder (host paths
    such as /var/lib/kubelet/... map to the folder's files), so shown commands work here."""
    import dataclasses

    if cred is None or cred.embedded or cred.error:
        return cred
    found = kubeconfig_files.local_file(folder.out, name, cred, folder.installed)
    return dataclasses.replace(cred, path=found) if found else cred


def _server_host(name, server, where, api, api_info, view) -> Check:
    host = expected.url_host(server)
    command = f"{view} -o jsonpath='{{.clusters[*].cluster.server}}'"
    if api is not None:
        command += f"; {show(api.cert_file, '-ext', 'subjectAltName')}"
    if not host:
        return Check(name, "server-host", False, f"{where}: server {server!r} has no host", command)
    if api_info is None:
        return Check(name, "server-host", True, command=command)
    if expected.host_covered(host, api_info.sans.dns, api_info.sans.ips):
        return Check(name, "server-host", True, command=command)
    sans = ", ".join([*api_info.sans.dns, *api_info.sans.ips]) or "none"
    return Check(
        name,
        "server-host",
        False,
        f"{where}: server {server}: host {host} is not in {api.cert_file}'s SANs ({sans})",
        command,
    )


def _credential_cert(folder: Folder, name, cred, what, checks) -> CertInfo | None:
    """The certificate a credential holds (the first, when several); a CA's is judged alone
    unless it is one of the folder's CA files (each has its own ca-only check)."""
    out = folder.out
    if cred.error:
        checks.append(Check(name, what, False, f"{cred.field}: {cred.error}"))
        return None
    try:
        if cred.embedded:
            data = cred.pem.encode("utf-8", "replace")
        elif (out / cred.path).is_file():
            data = certinfo.read_regular(cred.path, cwd=out)
        else:
            checks.append(Check(name, what, False, f"{cred.field}: {cred.path} is missing"))
            return None
        info, _count = certinfo.from_pem(data, cred.field)
    except KpkiError:
        checks.append(Check(name, what, False, f"{cred.field}: not a certificate that can be read"))
        return None
    if what == "certificate-authority" and (cred.embedded or cred.path not in folder.ca_files):
        if cred.embedded:
            shown = _extract_command(name, cred, "", program="x509")
            source = shown.removesuffix(" | openssl x509")
            command = f"cmp -s <({source}) <({source} | openssl x509)"
        else:
            command = ca_only_command(cred.path)
        check = ca_only(name, data, command, cred.field)
        if not check.ok:
            checks.append(check)
    return info


def _kubeconfig_key(folder: Folder, name: str, user, cred, cert: CertInfo) -> Check:
    key = _local(folder, name, user.key)
    if key is None:
        return Check(name, "key-match", False, f"users[{user.name}] has no client key")
    command = (
        f"diff <({_extract_command(name, cred, '-pubkey')}) "
        f"<({_extract_command(name, key, '', program='pkey -pubout')})"
    )
    if key.error:
        return Check(name, "key-match", False, f"{key.field}: {key.error}", command)
    if key.embedded:
        public = certinfo.public_key_of(None, cwd=folder.out, pem=key.pem)
    elif (folder.out / key.path).is_file():
        public = certinfo.public_key_of(key.path, cwd=folder.out)
    else:
        return Check(name, "key-match", False, f"{key.field}: {key.path} is missing", command)
    if public == cert.public_key:
        return Check(name, "key-match", True, command=command)
    return Check(
        name,
        "key-match",
        False,
        f"{key.field} does not match {cred.field} (a different public key)",
        command,
    )


def _extract_command(name: str, cred, flags: str, program: str = "x509 -noout") -> str:
    """How to see an embedded (or referenced) credential by hand."""
    if cred is None:
        return ""
    if not cred.embedded:
        source = "-in " + shlex.quote(cred.path)
        return f"openssl {program} {source} {flags}".strip()
    section, _, key = cred.field.partition(".")
    kind, _, who = section.partition("[")
    who = who.rstrip("]")
    kind_body = "user" if kind == "users" else "cluster"
    path = f'{{.{kind}[?(@.name=="{who}")].{kind_body}.{key}}}'
    return (
        f"kubectl config view --kubeconfig {shlex.quote(name)} --raw"
        f" -o jsonpath={shlex.quote(path)} | base64 -d | openssl {program} {flags}".rstrip()
    )
