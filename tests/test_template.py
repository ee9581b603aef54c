"""The template language (kpki_openssl/template.py): one parser for every template of a recipe;
a placeholder naming nothing the row defines is refused when the recipe is loaded, one line
naming the field; variable names and placeholders follow one name rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.steps import build_plan
from kpki_openssl.recipe.load import parse_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.conftest import run_cli

HEAD = """name: tiny
profiles:
  ca: {ca: true, key_usage: [keyCertSign, cRLSign]}
  client: {key_usage: [digitalSignature], extended_key_usage: [clientAuth]}
  server: {key_usage: [digitalSignature], extended_key_usage: [serverAuth]}
variables:
  days: {default: 10}
  ca_days: {default: 20}
  nodes: {default: [n1, n2]}
  ips: {default: {n1: 10.0.0.1}}
  my_var: {default: x}
certificates:
  - {name: ca, profile: ca, subject: {CN: root}}
  - {name: web, ca: ca, profile: server, subject: {CN: web}}
"""
NODE_ROW = (
    "  - {{name: 'k-{{node}}', ca: ca, profile: client, for_each: {{node: nodes}}, {extra}}}\n"
)


def row(extra: str) -> str:
    return HEAD + NODE_ROW.format(extra=extra)


REFUSED = {
    "a typo in a per-node row": (
        row("subject: {CN: '{nodee}'}"),
        "certificates[k-{node}].subject.CN: {nodee} names no variable",
    ),
    "a loop item outside its row": (
        HEAD + "  - {name: a, ca: ca, profile: client, subject: {CN: '{node}'}}\n",
        "certificates[a].subject.CN: {node} names no variable",
    ),
    "{name} in a title (only documents and departures have it)": (
        row("subject: {CN: a}, title: 'for {name}'"),
        "certificates[k-{node}].title: {name} names no variable",
    ),
    "a map lookup in a variable that is no map": (
        row("subject: {CN: a}, sans: {ip: ['{days[node]}']}"),
        "certificates[k-{node}].sans.ip[0]: {days[node]} needs 'days' to be a map variable",
    ),
    "a map key naming nothing": (
        row("subject: {CN: a}, sans: {ip: ['{ips[nod]}']}"),
        "certificates[k-{node}].sans.ip[0]: {ips[nod]}: 'nod' names no variable or loop item",
    ),
    "a format spec": (
        row("subject: {CN: '{node:>5}'}"),
        "certificates[k-{node}].subject.CN: {node:>5} in '{node:>5}' is not a placeholder",
    ),
    "a positional field": (
        row("subject: {CN: a}, explain: 'see {}'"),
        "certificates[k-{node}].explain: {} in 'see {}' is not a placeholder",
    ),
    "an attribute": (
        row("subject: {CN: '{node.upper}'}"),
        "{node.upper} in '{node.upper}' is not a placeholder",
    ),
    "an upper-case name": (
        row("subject: {CN: '{NODE}'}"),
        "{NODE} in '{NODE}' is not a placeholder",
    ),
    "a lone brace": (
        row("subject: {CN: a}, document: ['x } y']"),
        "certificates[k-{node}].document[0]: 'x } y' has a brace that opens or closes nothing",
    ),
    "a shared departure naming a loop item": (
        HEAD + "departures: [{what: w, ours: '{node}'}]\n",
        "departures[0].ours: {node} names no variable",
    ),
    "a keypair": (
        HEAD + "keypairs: [{name: sa, title: '{sa_name}'}]\n",
        "keypairs[sa].title: {sa_name} names no variable",
    ),
    "a kubeconfig": (
        HEAD + "kubeconfigs:\n  - {file: k.kubeconfig, client: ca, served_by: web, "
        "server: 'https://{web_host}'}\n",
        "kubeconfigs[k.kubeconfig].server: {web_host} names no variable",
    ),
    "a component flag": (
        HEAD + "components:\n  - {file: x.flags, flags: {--cert: '/etc/{dir}/web.crt'}}\n",
        "components[x.flags].flags.--cert: {dir} names no variable",
    ),
    "deep in a component's YAML": (
        HEAD + "components:\n  - {file: x.yaml, yaml: {a: {b: [ok, '{nodes}', '{missing}']}}}\n",
        "components[x.yaml].yaml.a.b[2]: {missing} names no variable",
    ),
    "a loop name outside the name rule": (
        HEAD + "  - {name: 'k-{n-1}', ca: ca, profile: client, subject: {CN: a}, "
        "for_each: {n-1: nodes}}\n",
        "certificates[k-{n-1}].for_each: 'n-1' is not a valid loop name",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_when_the_recipe_is_loaded(case: str) -> None:
    text, message = REFUSED[case]
    with pytest.raises(InputError) as err:
        parse_recipe(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_typo_is_refused_by_the_cli_even_with_no_item_to_fill(tmp_path: Path) -> None:
    """With nodes empty no item would ever fill the row: the typo is still one line, exit 2."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(row("subject: {CN: '{nodee}'}"))
    out = tmp_path / "pki"
    argv = ["--recipe", str(recipe), "--set", "nodes=[]"]
    for command in (["run", "all", "--out", str(out)], ["list"], ["lint"]):
        done = run_cli(*command, *argv)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr == (
            "kpki-openssl: error: certificates[k-{node}].subject.CN: {nodee} names no variable\n"
        )
    assert not out.exists()


def test_what_the_language_accepts_fills_as_before() -> None:
    recipe = parse_recipe(
        row(
            "subject: {CN: '{node}', O: '{my_var}'}, sans: {ip: ['{ips[node]}'], dns: ['{nodes}']},"
            " document: ['{name} is {{literal}}'], departures: [{what: '{name}', ours: '{node}'}]"
        )
    )
    plan = build_plan(recipe, resolve_variables(recipe))
    one, two = (c for c in plan.certs if c.for_each)
    assert (one.subject, two.subject) == ((("CN", "n1"), ("O", "x")), (("CN", "n2"), ("O", "x")))
    assert (one.sans.ips, two.sans.ips) == (
        ("10.0.0.1",),
        (),
    )  # a missing map key gives '' (dropped)
    assert one.sans.dns == ("n1", "n2")  # an item that is exactly {list} is the list's items
    assert one.document == ("k-n1 is {literal}",)
    assert (one.departures[0].what, one.departures[0].ours) == ("k-n1", "n1")


# One name rule: what a variable may be called is exactly what a placeholder may name.
GOOD_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(
    lambda name: name not in ("days", "ca_days", "nodes", "ips", "my_var")  # HEAD has them
)
BAD_NAME = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}[-.A-Z][a-z0-9]{0,4}", fullmatch=True),  # - . upper
    st.from_regex(r"[0-9_][a-z0-9_]{0,8}", fullmatch=True),  # not a letter first
    st.just("a" * 65),
)


def with_variable(name: str) -> str:
    return HEAD.replace("variables:\n", f"variables:\n  '{name}': {{default: val}}\n").replace(
        "subject: {CN: web}", f"subject: {{CN: web, O: '{{{name}}}'}}"
    )


@settings(max_examples=30, deadline=None)
@given(GOOD_NAME)
def test_every_valid_variable_name_can_be_named_in_a_template(name: str) -> None:
    recipe = parse_recipe(with_variable(name))
    web = build_plan(recipe, resolve_variables(recipe)).certs[1]
    assert web.subject == (("CN", "web"), ("O", "val"))


@settings(max_examples=30, deadline=None)
@given(BAD_NAME)
def test_a_name_a_template_cannot_use_is_no_variable_name(name: str) -> None:
    with pytest.raises(InputError) as err:
        parse_recipe(with_variable(name))
    assert str(err.value).startswith(f"variables.{name}: {name!r} is not a valid variable name")
    assert "a lower-case letter, then lower-case letters, digits and '_'" in str(err.value)
