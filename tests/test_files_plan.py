"""Kubeconfigs and component files in the plan: pure tests, no program run, no file touched."""

from __future__ import annotations

import pytest
import yaml

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan import shell_text
from kpki_openssl.plan.steps import PRIVATE_MODE, Command, WriteFile, build_plan
from kpki_openssl.recipe.load import load_recipe, parse_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.expected import COMPONENT_FILES, KUBECONFIGS, SERVER


def plan_for(*sets: str):
    recipe = load_recipe("kubernetes")
    return build_plan(recipe, resolve_variables(recipe, sets))


def test_kubeconfigs_are_plain_writefiles_with_a_standard_config() -> None:
    plan = plan_for()
    for name, (client, user, cluster, context) in KUBECONFIGS.items():
        step = plan.step(name)
        (write,) = step.actions
        assert isinstance(write, WriteFile) and write.path == name
        assert write.mode == PRIVATE_MODE
        doc = yaml.safe_load(write.content)
        assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
        assert doc["current-context"] == context
        assert doc["contexts"] == [{"name": context, "context": {"cluster": cluster, "user": user}}]
        assert doc["clusters"][0]["name"] == cluster
        assert doc["clusters"][0]["cluster"]["server"] == SERVER
        assert doc["users"][0]["name"] == user
        user_files = doc["users"][0]["user"]
        assert user_files["client-certificate"].rsplit("/", 1)[-1] == f"{client}.crt"
        assert user_files["client-key"].rsplit("/", 1)[-1] == f"{client}.key"


def test_path_form_paths_follow_the_host_folders() -> None:
    plan = plan_for("host_pki_dir=/etc/k8s/pki/", "host_kubelet_dir=/srv/kubelet")
    admin = yaml.safe_load(plan.step("admin.kubeconfig").actions[0].content)
    assert admin["clusters"][0]["cluster"]["certificate-authority"] == "ca.crt"  # beside it
    kubelet = yaml.safe_load(plan.step("kubelet-node02.kubeconfig").actions[0].content)
    assert kubelet["clusters"][0]["cluster"]["certificate-authority"] == "/etc/k8s/pki/ca.crt"
    assert kubelet["users"][0]["user"] == {
        "client-certificate": "/srv/kubelet/kubelet-client-node02.crt",
        "client-key": "/srv/kubelet/kubelet-client-node02.key",
    }
    flags = plan.step("kube-apiserver.flags").actions[0].content
    assert "--etcd-cafile=/etc/k8s/pki/etcd-ca.crt\n" in flags
    kubelet_config = yaml.safe_load(plan.step("kubelet-config-node02.yaml").actions[0].content)
    assert kubelet_config["tlsCertFile"] == "/srv/kubelet/kubelet-node02.crt"


def test_embedded_form_is_kubectl_embed_commands_after_the_file() -> None:
    step = plan_for("embed_certs=yes").step("admin.kubeconfig")
    write, set_cluster, set_credentials = step.actions
    assert isinstance(write, WriteFile) and write.mode == 0o600
    assert isinstance(set_cluster, Command) and isinstance(set_credentials, Command)
    assert set_cluster.argv == (
        "kubectl", "config", "set-cluster", "kubernetes",
        f"--server={SERVER}", "--certificate-authority=ca.crt", "--embed-certs=true",
        "--kubeconfig=admin.kubeconfig",
    )  # fmt: skip
    assert set_credentials.argv == (
        "kubectl", "config", "set-credentials", "kubernetes-admin",
        "--client-certificate=admin.crt", "--client-key=admin.key", "--embed-certs=true",
        "--kubeconfig=admin.kubeconfig",
    )  # fmt: skip
    assert step.reads == ("ca.crt", "admin.crt", "admin.key")  # run ca/admin first, or refused
    # the embedded kubelet kubeconfig reads the local files, not the host paths
    kubelet = plan_for("embed_certs=yes").step("kubelet-node01.kubeconfig")
    assert "--certificate-authority=ca.crt" in kubelet.actions[1].argv


def test_dry_run_shows_the_kubectl_config_commands_as_comments() -> None:
    text = shell_text.plan_text(plan_for().select(["admin.kubeconfig"]))
    comments = [ln for ln in text.splitlines() if ln.startswith("#   kubectl config ")]
    verbs = [ln.split()[3] for ln in comments]
    assert verbs == ["set-cluster", "set-credentials", "set-context", "use-context"]
    assert not any(ln.startswith("kubectl ") for ln in text.splitlines())  # path form: no command


def test_apiserver_certificate_covers_the_documents_host() -> None:
    cnf = plan_for().step("apiserver").actions[0].content
    assert "DNS.5 = kube-apiserver" in cnf


@pytest.mark.parametrize(
    "sets, needle",
    [
        (
            ["kubeconfig_server=https://lb.example.com:6443"],
            "host 'lb.example.com' of 'https://lb.example.com:6443' is not in the subjectAltName "
            "of certificate 'apiserver'",
        ),
        (["apiserver_dns=kubernetes"], "host 'kube-apiserver'"),
        (["kubeconfig_server=http://kube-apiserver:6443"], "is not an https://HOST[:PORT] URL"),
        (["embed_certs=perhaps"], "'perhaps' is not yes or no"),
        (["host_pki_dir=var/lib"], "'var/lib' is not an absolute path"),
        (["host_kubelet_dir=/var/lib/../etc"], "is not an absolute path"),
    ],
)
def test_bad_kubeconfig_settings_name_field_and_value(sets, needle) -> None:
    with pytest.raises(InputError) as info:
        plan_for(*sets)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_server_ip_must_be_an_ip_san() -> None:
    assert (
        plan_for("kubeconfig_server=https://10.96.0.1:6443")
        .kubeconfigs[0]
        .server.startswith("https://10.96.0.1")
    )
    with pytest.raises(InputError, match="'10.96.0.2'"):
        plan_for("kubeconfig_server=https://10.96.0.2:6443")
    plan_for("kubeconfig_server=https://[::1]:6443", "apiserver_ips=10.96.0.1,::1")


def test_yes_no_variables() -> None:
    for word in ("yes", "TRUE", "on", "1"):
        assert plan_for(f"embed_certs={word}").kubeconfigs[0].embed is True
    for word in ("no", "False", "off", "0"):
        assert plan_for(f"embed_certs={word}").kubeconfigs[0].embed is False


def test_component_files_and_order() -> None:
    plan = plan_for("etcd_peers=e1,e2")
    names = [s.name for s in plan.steps]
    assert names[-len(COMPONENT_FILES) - 1 :] == [
        "etcd-e1.flags",
        "etcd-e2.flags",
        "kube-apiserver.flags",
        "kube-controller-manager.flags",
        "kube-scheduler.yaml",
        "kube-proxy.yaml",
        "kubelet-node01.flags",
        "kubelet-node02.flags",
        "kubelet-node03.flags",
        "kubelet-config-node01.yaml",
        "kubelet-config-node02.yaml",
        "kubelet-config-node03.yaml",
    ]
    flags = plan.step("etcd-e2.flags").actions[0].content.splitlines()
    assert [ln for ln in flags if not ln.startswith("#")] == [
        "--name=e2",
        "--cert-file=/var/lib/kubernetes/etcdserver.crt",
        "--key-file=/var/lib/kubernetes/etcdserver.key",
        "--trusted-ca-file=/var/lib/kubernetes/etcd-ca.crt",
        "--client-cert-auth=true",
        "--peer-cert-file=/var/lib/kubernetes/e2.crt",
        "--peer-key-file=/var/lib/kubernetes/e2.key",
        "--peer-trusted-ca-file=/var/lib/kubernetes/etcd-ca.crt",
        "--peer-client-cert-auth=true",
    ]


TINY = """
name: tiny
profiles:
  ca: {ca: true, key_usage: [keyCertSign]}
  client: {key_usage: [digitalSignature], extended_key_usage: [clientAuth]}
  server: {key_usage: [digitalSignature], extended_key_usage: [serverAuth]}
variables:
  days: {default: 10}
  ca_days: {default: 20}
certificates:
  - {name: root, profile: ca, subject: {CN: r}}
  - {name: me, ca: root, profile: client, subject: {CN: me}}
  - {name: web, ca: root, profile: server, subject: {CN: web}, sans: {dns: [web]}}
"""


@pytest.mark.parametrize(
    "extra, needle",
    [
        ("kubeconfigs:\n  - {file: ../me.conf, client: me, served_by: web, server: 'https://web'}\n",
         "'../me.conf' is not a valid relative file name"),
        ("kubeconfigs:\n  - {file: me.kubeconfig, client: ghost, served_by: web, server: 'https://web'}\n",
         "unknown certificate 'ghost'"),
        ("kubeconfigs:\n  - {file: me.kubeconfig, client: web, served_by: web, server: 'https://web'}\n",
         "'web' is not a client certificate"),
        ("kubeconfigs:\n  - {file: me.kubeconfig, client: me, served_by: web}\n", "server: missing"),
        ("components:\n  - {file: x.flags, flags: {--tls-cert-file: /etc/wbe.crt}}\n",
         "'wbe.crt', which no certificate of this recipe makes"),
        ("components:\n  - {file: x.flags, flags: {tls-cert-file: /etc/web.crt}}\n",
         "'tls-cert-file' is not a --long-flag name"),
        ("components:\n  - {file: x.yaml, yaml: {a: {b: [/x/me.key, /x/nope.key]}}}\n",
         "components[x.yaml].yaml.a.b: '/x/nope.key'"),
        ("components:\n  - {file: x.flags}\n", "give one of flags:, yaml: or verbatim:"),
        ("components:\n  - {file: x.yaml, yaml: {on: 1}}\n", "key True is not text"),
    ],
)  # fmt: skip
def test_bad_file_tables_name_the_field(extra, needle) -> None:
    with pytest.raises(InputError) as info:
        recipe = parse_recipe(TINY + extra)
        build_plan(recipe, resolve_variables(recipe))
    assert needle in str(info.value)


def test_a_recipe_can_use_the_file_tables_with_its_own_names() -> None:
    recipe = parse_recipe(
        TINY
        + "kubeconfigs:\n"
        + "  - {file: me.conf, client: me, served_by: web, server: 'https://web:8443'}\n"
        + "components:\n"
        + "  - file: web.yaml\n"
        + "    yaml: {cert: /srv/web.crt, list: [a, '{{literal}}'], 'on': true}\n"
    )
    plan = build_plan(recipe, resolve_variables(recipe))
    doc = yaml.safe_load(plan.step("me.conf").actions[0].content)  # kubeadm-style name
    assert doc["users"][0] == {
        "name": "me",
        "user": {"client-certificate": "me.crt", "client-key": "me.key"},
    }  # noqa: E501
    assert doc["current-context"] == "me@kubernetes"
    assert yaml.safe_load(plan.step("web.yaml").actions[0].content) == {
        "cert": "/srv/web.crt",
        "list": ["a", "{literal}"],
        "on": True,
    }
