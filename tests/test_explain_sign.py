"""Teaching the keys that stay on the node: `explain sign`, and every command of the bootstrap
kit and of the sign steps explained part by part."""

from __future__ import annotations

import pytest

from kpki_openssl.plan.steps import Command, build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from kpki_openssl.teach import flag_glossary, sign_lesson
from tests.conftest import run_cli

SETTINGS = (
    ["kubelet_bootstrap=yes"],
    ["node_keys=on-node"],
    ["kubelet_bootstrap=yes", "node_keys=on-node", "key_type=ecdsa"],
)


@pytest.mark.parametrize("sets", SETTINGS)
def test_every_part_of_every_new_command_is_explained(sets: list[str]) -> None:
    loaded = load_recipe("kubernetes")
    plan = build_plan(loaded, resolve_variables(loaded, sets))
    for step in plan.steps:
        for action in step.actions:
            if isinstance(action, Command):
                notes = flag_glossary.explain_argv(action.argv)
                assert not [n.text for n in notes if not n.meaning], (step.name, notes)
                assert " ".join(n.text for n in notes) == " ".join(action.argv)


def test_explain_sign_gives_every_rule_and_its_source() -> None:
    done = run_cli("explain", "sign")
    assert done.returncode == 0, done.stderr
    for check, _fails, _source in sign_lesson.RULES:
        assert f"  {check}: refused when " in done.stdout
    for source in ("ValidateKubeletClientCSR", "CertificateSubjectRestriction", "copyall"):
        assert source in done.stdout
    assert "-extfile NAME.cnf" in done.stdout


def test_explain_of_the_kit_says_who_approves_what() -> None:
    names = ["bootstrap-token-node01", "auto-approve-csrs-for-group",
             "auto-approve-renewals-for-nodes", "approve-kubelet-serving",
             "kubelet-config-bootstrap-node01.yaml"]  # fmt: skip
    done = run_cli("explain", *names, "--set", "kubelet_bootstrap=yes")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "system:bootstrap:" in text and "system:bootstrappers" in text
    assert "csrapproving" in text and "selfnodeclient" in text
    assert "never a serving CSR" in text or "never approves serving CSRs" in text
    assert "(no explanation recorded)" not in done.stdout


def test_explain_of_a_sign_step_says_where_the_key_is() -> None:
    done = run_cli("explain", "kubelet-client-node01", "--set", "node_keys=on-node")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "this folder never holds kubelet-client-node01.key" in text
    assert "openssl x509 -req -in kubelet-client-node01.csr" in text
