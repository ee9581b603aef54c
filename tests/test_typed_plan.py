"""Typed steps: each kind of step says what it is, and every view of a plan follows its steps."""

from __future__ import annotations

import re

from kpki_openssl.cli import main as cli_main
from kpki_openssl.plan.steps import CertStep, ComponentStep, KubeconfigStep, build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.expected import CAS


def plan_for(name: str = "kubernetes"):
    recipe = load_recipe(name)
    return build_plan(recipe, resolve_variables(recipe))


def test_a_selection_never_disagrees_with_itself() -> None:
    plan = plan_for()
    chosen = plan.select(["admin", "admin.kubeconfig", "kube-apiserver.flags"])
    assert [s.name for s in chosen.steps] == ["admin", "admin.kubeconfig", "kube-apiserver.flags"]
    assert [c.name for c in chosen.certs] == ["admin"]
    assert [k.file for k in chosen.kubeconfigs] == ["admin.kubeconfig"]
    assert [c.file for c in chosen.components] == ["kube-apiserver.flags"]
    assert len(plan.certs) == sum(isinstance(s, CertStep) for s in plan.steps) > 10


def test_each_step_kind_carries_its_own_spec() -> None:
    plan = plan_for()
    kinds = {type(s) for s in plan.steps}
    assert {CertStep, KubeconfigStep, ComponentStep} <= kinds
    admin_kc = plan.step("admin.kubeconfig")
    assert isinstance(admin_kc, KubeconfigStep)
    assert admin_kc.client.name == "admin" and admin_kc.spec.ca_file == "ca.crt"
    leaf = plan.step("apiserver")
    assert isinstance(leaf, CertStep) and leaf.signer is not None and leaf.signer.name == "ca"
    assert leaf.signer_key_file == "ca.key" and leaf.key_files == ("apiserver.key",)
    assert plan.step("ca").signer is None


def test_explain_and_the_handout_call_only_a_ca_self_signed(capsys) -> None:
    assert cli_main(["explain", "all"]) == 0
    text = capsys.readouterr().out
    blocks = re.split(r"^step ", text, flags=re.M)[1:]
    assert len(blocks) == len(plan_for().steps)
    for block in blocks:
        name = block.split(":", 1)[0]
        says_self_signed = "self-signed" in block.splitlines()[1]
        assert says_self_signed == (name in CAS), block.splitlines()[:2]
    assert "a kubeconfig: names admin.crt and admin.key (step admin), trusts ca.crt" in text
    assert "a configuration file for kube-apiserver" in text
    assert cli_main(["export", "--format", "markdown"]) == 0
    handout = capsys.readouterr().out
    assert "signed by `admin`" not in handout
    lines = [ln for ln in handout.splitlines() if "self-signed" in ln]
    titles = [plan_for().step(ca).title for ca in CAS]
    called = ("(a root CA)", "(a self-signed CA)", *titles)  # only CAs are called self-signed
    assert lines and all(any(c in ln for c in called) for ln in lines)
