"""The kubelets' side of the cluster CA's rotation (part of `rotation-ca`): after each stage,
for each KubeletConfiguration of the scratch copy, one real etcd stands in for the kubelet's
HTTPS port (no kubelet runs here). It serves tlsCertFile and tlsPrivateKeyFile and trusts
authentication.x509.clientCAFile, as the stage left them. kubectl holds the API server's kubelet
client files as the stage left its flags (--kubelet-certificate-authority,
--kubelet-client-certificate, --kubelet-client-key) and asks it for /version by the node's
name. After remove, the API server's kubelet client certificate kept from before switch (the
old CA) must be refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kpki_openssl.base import safeyaml
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.prove import kubectl
from kpki_openssl.prove.folder import Folder
from kpki_openssl.prove.kubelet import node_name
from kpki_openssl.prove.results import ACCEPT, FAIL, NOT_RUN, REFUSE, Check, words
from kpki_openssl.prove.roles import KUBELET_CLIENT
from kpki_openssl.prove.rotation_walk import judge_version, keep, late
from kpki_openssl.prove.standin import StandIn

if TYPE_CHECKING:
    from kpki_openssl.prove.rotation_ca import Walk

STAND_IN = "etcd stands in for the kubelet's HTTPS port; no kubelet runs here"


def configs(walk: Walk) -> list[str]:
    """The copy's KubeletConfiguration files (folder-relative), in plan order."""
    return [
        c.file
        for c in walk.plan.components
        if c.program == "kubelet"
        and c.file.endswith((".yaml", ".yml"))
        and (walk.pki / c.file).is_file()
    ]


def keep_old_client(walk: Walk) -> None:
    """Before the rotation: the API server's kubelet client certificate, for after remove."""
    cert = walk.flag_file(KUBELET_CLIENT.cert)
    if cert is not None:
        walk.files["old-kubelet-client"] = keep(cert, walk.probe / "old-kubelet-client.crt")


def ask(walk: Walk, stage: str) -> None:
    """Each kubelet stand-in started from its configuration as the stage left it, then asked
    by the API server's kubelet client (and, after remove, by the old one)."""
    ca, cert, key = (
        walk.flag_file(f) for f in (KUBELET_CLIENT.ca, KUBELET_CLIENT.cert, KUBELET_CLIENT.key)
    )
    shown = f"{ca.name if ca else 'missing'}, {cert.name if cert else 'missing'}"
    for file in configs(walk):
        if walk.late():
            walk.context.check(f"{stage}: the kubelet stand-in of {file}", "etcd", ACCEPT,
                               NOT_RUN, late())  # fmt: skip
            continue
        stand_in = StandIn(walk.context, walk.stand_in.root, f"{Path(file).stem}-{stage}")
        try:
            name = _start(walk, stage, file, stand_in)
            if name is None:
                continue
            check = walk.context.check(
                f"{stage}: kubectl with the API server's kubelet client files as the stage left "
                f"its flags ({shown}) asks the {file} stand-in for /version by the name {name} "
                f"({STAND_IN})",
                "kubectl",
                ACCEPT,
            )
            if ca is None or cert is None or key is None:
                check.tool(FAIL, f"{walk.flags_file} names a kubelet client file the copy lacks")
                continue
            _kubectl(walk, check, stand_in, name, (ca, cert, key))
            old = walk.files.get("old-kubelet-client")
            if stage == "remove" and old is not None:
                check = walk.context.check(
                    "remove: the API server's kubelet client certificate kept from before "
                    f"switch (the old CA) against the {file} stand-in: its clientCAFile names "
                    "the new CA alone",
                    "kubectl",
                    REFUSE,
                )
                _kubectl(walk, check, stand_in, name, (ca, old, key))
        finally:
            stand_in.stop()


def _start(walk: Walk, stage: str, file: str, stand_in: StandIn) -> str | None:
    """The kubelet stand-in started from `file` as the copy holds it: the node's name (the
    name its serving certificate is checked by), or None with the check failed."""
    check = walk.context.check(f"{stage}: a kubelet stand-in (etcd) started from {file} as "
                               "the stage left it", "etcd", ACCEPT, add=False)  # fmt: skip
    try:
        data = safeyaml.load_file(walk.pki / file, file) or {}
    except KpkiError as exc:
        walk.context.add(check).tool(FAIL, f"not YAML: {words(str(exc))}")
        return None
    data = data if isinstance(data, dict) else {}
    x509 = (data.get("authentication") or {}).get("x509") or {}
    folder = Folder(walk.pki)
    cert, key, client_ca = (
        folder.find(str(value), f"{file} {field}")
        for field, value in (
            ("tlsCertFile", data.get("tlsCertFile", "")),
            ("tlsPrivateKeyFile", data.get("tlsPrivateKeyFile", "")),
            ("clientCAFile", x509.get("clientCAFile", "") if isinstance(x509, dict) else ""),
        )
    )
    if cert is None or key is None or client_ca is None:
        walk.context.add(check).tool(FAIL, f"{file} names a file the copy does not hold")
        return None
    check.what += f": serving {cert.name}, clientCAFile {client_ca.name}"
    walk.context.add(check)
    ok, said = stand_in.restart(cert, key, client_ca, stage)
    check.argv = tuple(stand_in.argv(cert, key, client_ca))
    check.judge(ok, said)
    if not ok:
        return None
    spec = next((c for c in walk.plan.certs if walk.pki / c.cert_file == cert), None)
    return node_name(spec) or walk.name


def _kubectl(
    walk: Walk, check: Check, stand_in: StandIn, name: str, files: tuple[Path, Path, Path]
) -> None:
    ca, cert, key = files
    argv = (
        walk.context.scratch.which("kubectl") or "kubectl",
        *kubectl.server(stand_in.port, name), f"--certificate-authority={ca}",
        f"--client-certificate={cert}", f"--client-key={key}", "--request-timeout=5s",
        "get", "--raw", "/version",
    )  # fmt: skip
    judge_version(walk.context, check, stand_in.log, argv)
