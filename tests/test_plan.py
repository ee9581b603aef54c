"""The plan is pure: these tests run no program and touch no file."""

from __future__ import annotations

import pytest

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan import shell_text
from kpki_openssl.plan.steps import CertStep, Command, WriteFile, build_plan
from kpki_openssl.recipe.load import load_recipe, parse_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.expected import APISERVER_DNS, APISERVER_IPS, CAS, LEAVES, SIGNERS


def plan_for(*sets: str):
    recipe = load_recipe("kubernetes")
    return build_plan(recipe, resolve_variables(recipe, sets))


def test_each_ca_before_the_leaves_it_signs() -> None:
    plan = plan_for()
    cert_steps = [s for s in plan.steps if isinstance(s, CertStep)]
    assert cert_steps[0].name == "ca"
    assert {s.name for s in cert_steps if s.name not in CAS} == set(LEAVES)
    assert {s.name for s in cert_steps if s.name in CAS} == set(CAS)
    assert plan.steps[: len(cert_steps)] == tuple(cert_steps)  # certificates before their users
    names = [s.name for s in cert_steps]
    for step in (s for s in cert_steps if s.name not in CAS):
        signer = SIGNERS.get(step.name, "ca")
        assert names.index(signer) < names.index(step.name)
        assert step.needs == (signer,)
        x509 = step.actions[-1].argv
        assert x509[:3] == ("openssl", "x509", "-req")
        assert x509[5:9] == ("-CA", f"{signer}.crt", "-CAkey", f"{signer}.key")


def test_each_certificate_is_the_documents_three_commands() -> None:
    for step in (s for s in plan_for().steps if isinstance(s, CertStep)):
        kinds = [type(a) for a in step.actions]
        assert kinds == [WriteFile, Command, Command, Command]
        genrsa, req, x509 = (a.argv[1] for a in step.actions[1:])
        assert (genrsa, req, x509) == ("genrsa", "req", "x509")
        assert step.actions[1].private and not step.actions[3].private


def test_ca_is_self_signed_with_signkey() -> None:
    ca = plan_for().steps[0]
    assert ca.actions[3].argv == (
        "openssl", "x509", "-req", "-in", "ca.csr", "-signkey", "ca.key",
        "-days", "3650", "-extfile", "ca.cnf", "-extensions", "v3_ca", "-out", "ca.crt",
    )  # fmt: skip
    assert "basicConstraints = critical, CA:TRUE" in ca.actions[0].content


def test_apiserver_cnf_lists_the_documents_alt_names() -> None:
    cnf = plan_for().step("apiserver").actions[0].content
    alt = cnf.split("[alt_names]\n", 1)[1].splitlines()
    assert alt == [f"DNS.{i} = {n}" for i, n in enumerate(APISERVER_DNS, 1)] + [
        f"IP.{i} = {ip}" for i, ip in enumerate(APISERVER_IPS, 1)
    ]
    assert "[req_distinguished_name]" in cnf


def test_set_overrides_expand_per_node_and_per_peer() -> None:
    plan = plan_for("nodes=a,b,c,d,e", "etcd_peers=p1,p2,p3", "key_size=3072", "days=30")
    names = [s.name for s in plan.steps]
    for node in "abcde":
        assert f"kubelet-{node}" in names and f"kubelet-client-{node}" in names
    assert {"p1", "p2", "p3"} <= set(names)
    assert plan.step("admin").actions[1].argv[-1] == "3072"
    assert "-days" in plan.step("admin").actions[3].argv
    assert (
        plan.step("admin").actions[3].argv[plan.step("admin").actions[3].argv.index("-days") + 1]
        == "30"
    )


def test_select_keeps_plan_order_and_rejects_unknown() -> None:
    plan = plan_for()
    assert [s.name for s in plan.select(["apiserver", "ca"]).steps] == ["ca", "apiserver"]
    with pytest.raises(InputError, match="unknown step 'nope'"):
        plan.select(["nope"])


def test_plan_is_deterministic() -> None:
    assert shell_text.plan_text(plan_for()) == shell_text.plan_text(plan_for())


@pytest.mark.parametrize(
    "sets, needle",
    [
        (["apiserver_ips=1.2.3"], "'1.2.3' is not an IP address"),
        (["nodes=node01,node01"], "duplicate value 'node01'"),
        (["nodes=$(reboot)"], "'$(reboot)' is not a valid DNS name"),
        (["node_ips=node01=10.0.0.1000"], "node_ips"),
        (["key_size=0"], "key_size"),
        (["nodes"], "'nodes' is not KEY=VALUE"),
    ],
)
def test_bad_values_name_field_and_value(sets, needle) -> None:
    recipe = load_recipe("kubernetes")
    with pytest.raises(InputError, match=None) as info:
        build_plan(recipe, resolve_variables(recipe, sets))
    assert needle in str(info.value)


MINIMAL = """
name: tiny
profiles:
  ca: {ca: true, key_usage: [keyCertSign]}
  client: {key_usage: [digitalSignature], extended_key_usage: [clientAuth]}
variables:
  days: {default: 10}
  ca_days: {default: 20}
certificates:
"""


@pytest.mark.parametrize(
    "rows, needle",
    [
        ("  - {name: a, ca: root, profile: client, subject: {CN: a}}\n"
         "  - {name: root, profile: ca, subject: {CN: r}}\n", "signing CA 'root' is listed after it"),
        ("  - {name: a, ca: ghost, profile: client, subject: {CN: a}}\n", "signing CA 'ghost' is unknown"),
        ("  - {name: root, profile: ca, subject: {CN: r}, colour: red}\n", "unknown key 'colour'"),
        ("  - {name: root, profile: ca, subject: {CN: 'a/O=system:masters'}}\n", "'a/O=system:masters'"),
        ("  - {name: root, profile: ca, subject: {CN: r}}\n"
         "  - {name: root, profile: ca, subject: {CN: r}}\n", "duplicate name 'root'"),
        ("  - {name: root, profile: nope, subject: {CN: r}}\n", "unknown profile 'nope'"),
        ("  - {name: root, profile: ca, subject: {CN: r}\n", "YAML syntax error"),
    ],
)  # fmt: skip
def test_bad_recipes_name_the_field(rows, needle) -> None:
    with pytest.raises(InputError) as info:
        recipe = parse_recipe(MINIMAL + rows)
        build_plan(recipe, resolve_variables(recipe))
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_heredoc_delimiter_never_occurs_in_the_text() -> None:
    text = shell_text.heredoc(WriteFile("x.cnf", "a\nEOF\nEOF_1\n"))
    assert text.startswith("cat > x.cnf <<'EOF_2'\n") and text.endswith("EOF_2\n")


AS_DOCUMENT = """
  - {name: ca, profile: ca, subject: {CN: KUBERNETES-CA}, cnf: none, days: none}
  - name: apiserver
    ca: ca
    profile: client
    subject: {CN: kube-apiserver}
    days: none
    sign_extensions: false
    cnf:
      file: openssl.cnf
      text: "[req]\\nreq_extensions = v3_req\\n"
"""


def test_a_row_can_be_written_as_the_document_does() -> None:
    """cnf: none / days: none / a verbatim openssl.cnf / no -extfile: the document's commands."""
    recipe = parse_recipe(MINIMAL + AS_DOCUMENT)
    plan = build_plan(recipe, resolve_variables(recipe))
    ca, api = plan.steps
    assert [shell_text.command_line(a) for a in ca.actions] == [
        "openssl genrsa -out ca.key 2048",
        "openssl req -new -key ca.key -subj /CN=KUBERNETES-CA -out ca.csr",
        "openssl x509 -req -in ca.csr -signkey ca.key -out ca.crt",
    ]
    assert api.actions[0] == WriteFile("openssl.cnf", "[req]\nreq_extensions = v3_req\n")
    assert [shell_text.command_line(a) for a in api.actions[1:]] == [
        "openssl genrsa -out apiserver.key 2048",
        "openssl req -new -key apiserver.key -subj /CN=kube-apiserver -out apiserver.csr"
        " -config openssl.cnf",
        "openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -out apiserver.crt",
    ]
