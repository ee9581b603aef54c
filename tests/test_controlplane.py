"""Issue 12: what a control plane starts from. The flags and config files the bundled recipe
writes, held against the reference table in tests/expected.py; the recipe's refusals; `hosts`;
`csr`'s subject check. Files are read from the session's real PKI (built by openssl)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from kpki_openssl.cli import main as cli_main
from tests.conftest import REPO
from tests.expected import (
    APISERVER_IPS,
    CAS,
    FLAG_FILES,
    KUBE_PROXY_CONFIG,
    KUBE_SCHEDULER_CONFIG,
    NODES,
    SERVICE_CIDR,
)
from tests.processes import read_flags


def shown(value: str) -> str:
    """A path as its file name (the table names files, the flags name host paths)."""
    return Path(value).name if value.startswith("/") else value


@pytest.mark.parametrize("file", sorted(FLAG_FILES))
def test_every_flag_written_is_in_the_reference_table(built_pki: Path, file: str) -> None:
    """The generated file holds exactly the table's flags, values and order-free; a flag added,
    renamed or dropped in the recipe must be added to the table with its reference."""
    written = dict(item.split("=", 1) for item in read_flags(built_pki / file))
    table = FLAG_FILES[file]
    assert {k: shown(v) for k, v in written.items()} == {k: v for k, (v, _ref) in table.items()}
    assert all(ref for _value, ref in table.values())


def flat(node: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = shown(value) if isinstance(value, str) else value
    return out


@pytest.mark.parametrize(
    "file, table",
    [("kube-scheduler.yaml", KUBE_SCHEDULER_CONFIG), ("kube-proxy.yaml", KUBE_PROXY_CONFIG)],
)
def test_config_files_are_the_reference_fields(built_pki: Path, file: str, table: dict) -> None:
    assert flat(yaml.safe_load((built_pki / file).read_text())) == table


def test_the_kubernetes_service_ip_is_an_apiserver_san(built_pki: Path) -> None:
    """The API server gives the kubernetes Service the first address of the service range;
    pods dial it, so apiserver.crt must carry it (cryptography reads the certificate)."""
    first = ipaddress.ip_network(SERVICE_CIDR)[1]
    cert = x509.load_pem_x509_certificate((built_pki / "apiserver.crt").read_bytes())
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert first in ips.get_values_for_type(x509.IPAddress)
    assert str(first) == APISERVER_IPS[0]


@pytest.mark.parametrize(
    "sets, words",
    [
        (["key_type=ed25519"], ["key_type", "'ed25519'", "sa", "rsa, ecdsa"]),
        (["service_cidr=10.32.0.0/24"], ["apiserver_ips[0]", "10.32.0.1", "service_cidr"]),
        (["cluster_dns=10.32.0.10"], ["cluster_dns[0]", "'10.32.0.10'", "outside"]),
        (["apiserver_ips=172.17.0.87,10.96.0.1"], ["apiserver_ips[0]", "'172.17.0.87'"]),
        (["service_cidr=10.96.0.1/12"], ["--set service_cidr", "'10.96.0.1/12'"]),
    ],
)
def test_a_control_plane_that_cannot_start_is_refused_in_one_line(
    capsys, sets: list[str], words: list[str]
) -> None:
    argv = ["run", "all", "--dry-run"]
    for item in sets:
        argv += ["--set", item]
    assert cli_main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    for word in words:
        assert word in err, err


def test_the_single_ca_lesson_variant(capsys) -> None:
    """--set etcd_ca=ca: no etcd CA at all, etcd trusts and the apiserver's etcd client is
    signed by the cluster CA, as in the document."""
    assert cli_main(["run", "all", "--dry-run", "--set", "etcd_ca=ca"]) == 0
    text = capsys.readouterr().out
    assert "step etcd-ca:" not in text and "etcd-ca.crt" not in text
    assert "--trusted-ca-file=/var/lib/kubernetes/ca.crt" in text
    assert "--etcd-cafile=/var/lib/kubernetes/ca.crt" in text
    assert "-in apiserver-etcd-client.csr -CA ca.crt -CAkey ca.key" in text


def hosts_json(capsys) -> dict:
    assert cli_main(["hosts", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_hosts_gives_nodes_no_signing_key(capsys) -> None:
    doc = hosts_json(capsys)
    by_host = {h["host"]: h for h in doc["hosts"]}
    assert set(by_host) == {"controlplane", "etcdpeer1", *NODES}
    signing_keys = {f"{ca}.key" for ca in CAS} | {"sa.key"}
    for node in NODES:
        files = {f["file"] for f in by_host[node]["files"]}
        assert not files & signing_keys, files & signing_keys
        assert {
            "kubelet-config-" + node + ".yaml",
            f"kubelet-{node}.key",
            "kube-proxy.yaml",
        } <= files
        assert set(by_host[node]["programs"]) == {"kubelet", "kube-proxy"}
    control = {f["file"]: f for f in by_host["controlplane"]["files"]}
    assert {"ca.key", "sa.key", "sa.pub", "front-proxy-client.key"} <= set(control)
    assert control["ca.key"]["mode"] == "0600" and control["ca.crt"]["mode"] == "0644"
    assert control["sa.key"]["path"] == "/var/lib/kubernetes/sa.key"
    etcd = {f["file"] for f in by_host["etcdpeer1"]["files"]}
    assert etcd == {
        "etcd-etcdpeer1.flags", "etcdserver.crt", "etcdserver.key", "etcd-ca.crt",
        "etcdpeer1.crt", "etcdpeer1.key",
    }  # fmt: skip
    # the other CAs' keys sign nothing at run time: they stay with you
    assert {"etcd-ca.key", "front-proxy-ca.key", "admin.key"} <= set(doc["stays_with_you"])


def test_hosts_text_and_unknown_host(capsys, tmp_path: Path) -> None:
    assert cli_main(["hosts"]) == 0
    text = capsys.readouterr().out
    assert "host node01 (kube-proxy, kubelet)" in text
    assert "0600  /var/lib/kubernetes/ca.key" in text
    assert cli_main(["export", "--host", "nowhere", "-o", str(tmp_path / "x.sh")]) == 2
    err = capsys.readouterr().err
    assert "--host: 'nowhere' is not a host" in err and "node01" in err
    assert not (tmp_path / "x.sh").exists()


def test_csr_refuses_a_subject_the_api_server_refuses(built_pki: Path, capsys) -> None:
    """CertificateSubjectRestriction: no system:masters through kube-apiserver-client."""
    assert cli_main(["csr", "admin", "--out", str(built_pki)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "CertificateSubjectRestriction" in err and "O=system:masters" in err
    # a custom signer is not restricted by that plugin
    assert cli_main(["csr", "admin", "--out", str(built_pki), "--signer", "example.com/s"]) == 0
    out, err = capsys.readouterr()
    assert "signerName: example.com/s\n" in out and "custom" in err


@pytest.mark.parametrize(
    "name, signer, approval",
    [
        ("kubelet-client-node01", "kube-apiserver-client-kubelet", "csrapproving"),
        ("kubelet-node01", "kubelet-serving", "never approved automatically"),
        ("kube-scheduler", "kube-apiserver-client", "never approved automatically"),
    ],
)
def test_csr_names_the_signer_and_the_approval(
    built_pki: Path, capsys, name: str, signer: str, approval: str
) -> None:
    assert cli_main(["csr", name, "--out", str(built_pki)]) == 0
    out, err = capsys.readouterr()
    assert f"signerName: kubernetes.io/{signer}\n" in out
    assert f"signer kubernetes.io/{signer};" in err and approval in err
    assert "--cluster-signing-cert-file" in err


def test_hosts_refuses_a_recipe_that_sends_a_ca_key_to_a_node(tmp_path: Path, capsys) -> None:
    """The promise is kept by the tool, not only by the bundled recipe: a component file of a
    node that names ca.key is refused in one line, and nothing is written."""
    text = (REPO / "recipes" / "kubernetes.yaml").read_text()
    mine = text.replace(
        'tlsPrivateKeyFile: "{host_kubelet_dir}/kubelet-{node}.key"',
        'tlsPrivateKeyFile: "{host_pki_dir}/ca.key"',
    )
    assert mine != text
    recipe = tmp_path / "leaky.yaml"
    recipe.write_text(mine)
    assert cli_main(["hosts", "--recipe", str(recipe)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "node01 (kube-proxy, kubelet) would receive ca.key, a CA's private key" in err
    script = tmp_path / "node01.sh"
    assert cli_main(["export", "--host", "node01", "--recipe", str(recipe), "-o", str(script)]) == 2
    assert not script.exists()
