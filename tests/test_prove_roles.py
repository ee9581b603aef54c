"""Which certificate prove uses for which part, found from the plan (the flags that name it, its
signer, its usages), for every bundled recipe and for a recipe whose rows are all renamed. Pure:
plans only, no program runs."""

from __future__ import annotations

import re
from pathlib import Path

from kpki_openssl.plan.steps import Plan, build_plan
from kpki_openssl.prove.folder import match, parse_flags
from kpki_openssl.prove.roles import Roles
from kpki_openssl.recipe.load import bundled_recipes, load_recipe
from kpki_openssl.recipe.variables import resolve_variables


def plan_of(ref: str) -> Plan:
    recipe = load_recipe(ref)
    return build_plan(recipe, resolve_variables(recipe))


def roles_of(plan: Plan, with_flags: bool = True) -> Roles:
    """Roles with kube-apiserver's flags as the plan writes them (or none at all)."""
    files = [c for c in plan.components if c.program == "kube-apiserver"]
    flags = parse_flags(files[0].text) if files and with_flags else {}
    return Roles(plan, flags)


def file_of(spec) -> str:
    return spec.cert_file if spec is not None else ""


def test_the_bundled_recipe_by_its_flags() -> None:
    roles = roles_of(plan_of("kubernetes"))
    assert file_of(roles.serving) == "apiserver.crt"
    assert file_of(roles.client_ca) == "ca.crt"
    assert file_of(roles.etcd_client) == "apiserver-etcd-client.crt"
    assert file_of(roles.kubelet_client) == "apiserver-kubelet-client.crt"
    assert roles.curl_files() == ("admin.key", "admin.crt", "ca.crt")  # admin.kubeconfig's


def test_the_documents_misnamed_flags_and_files_still_find_their_certificates() -> None:
    """--tls-cert-file names apiserver.cr and --client-ca-file ca.pem; the kubelet client is
    given as --kubelet-certfile; there is no kubeconfig, so curl gets the admin's files."""
    roles = roles_of(plan_of("as-written"))
    assert file_of(roles.serving) == "apiserver.crt"
    assert file_of(roles.client_ca) == "ca.crt"
    assert file_of(roles.etcd_client) == "apiserver-etcd-client.crt"
    assert file_of(roles.kubelet_client) == "apiserver-kubelet-client.crt"
    assert roles.curl_files() == ("admin.key", "admin.crt", "ca.crt")


def test_without_a_flags_file_the_plan_answers() -> None:
    """kubeadm and the-hard-way write no kube-apiserver flags: the serving certificate is the
    one the kubeconfigs are served by, whatever its row is called."""
    assert file_of(roles_of(plan_of("kubeadm")).serving) == "pki/apiserver.crt"
    hard_way = roles_of(plan_of("the-hard-way"))
    assert file_of(hard_way.serving) == "kube-api-server.crt"
    assert file_of(hard_way.client_ca) == "ca.crt"
    # the bundled recipe with its flags file set aside: the CAs etcd and the kubelets trust
    plan = plan_of("kubernetes")
    roles = roles_of(plan, with_flags=False)
    assert file_of(roles.serving) == "apiserver.crt"
    assert file_of(roles.etcd_client) == "apiserver-etcd-client.crt"  # etcd-ca's one client
    kubelet = roles.kubelet_client
    assert kubelet is not None and kubelet.ca == "ca" and not kubelet.is_ca
    assert "clientAuth" in kubelet.extended_key_usage
    assert "serverAuth" not in kubelet.extended_key_usage
    assert not kubelet.common_name.startswith("system:node:")


def test_renamed_rows_change_nothing(tmp_path: Path) -> None:
    """Every certificate row of kubeadm's recipe renamed (its files kept): the same files."""
    head, rows = bundled_recipes()["kubeadm"].read_text().split("\ncertificates:\n")
    renamed = (
        head
        + "\ncertificates:\n"
        + re.sub(
            r"^(\s*(?:- name|ca|client|served_by): )([a-z][a-z-]*)$",
            lambda m: m.group(1) + "row-" + m.group(2),
            rows,
            flags=re.M,
        )
    )
    assert "served_by: row-apiserver" in renamed
    recipe = tmp_path / "renamed.yaml"
    recipe.write_text(renamed)
    before, after = roles_of(plan_of("kubeadm")), roles_of(plan_of(str(recipe)))
    assert file_of(after.serving) == file_of(before.serving) == "pki/apiserver.crt"
    assert file_of(after.client_ca) == file_of(before.client_ca) == "pki/ca.crt"
    assert after.curl_files() == before.curl_files()
    assert after.serving is not None and after.serving.name == "row-apiserver"


def test_a_host_path_maps_to_the_longest_tail_or_a_near_miss() -> None:
    files = ["pki/ca.crt", "pki/etcd/ca.crt", "apiserver.crt", "apiserver.key"]
    assert match("/etc/kubernetes/pki/etcd/ca.crt", files) == ("pki/etcd/ca.crt", False)
    assert match("/etc/kubernetes/pki/ca.crt", files) == ("pki/ca.crt", False)
    assert match("/var/lib/kubernetes/apiserver.cr", files) == ("apiserver.crt", True)
    assert match('"/var/lib/kubernetes/apiserver.key"', files) == ("apiserver.key", False)
    assert match("/var/lib/kubernetes/front-proxy.crt", files) == (None, False)
