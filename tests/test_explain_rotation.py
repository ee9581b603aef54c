"""`explain rotate-ca` and the handout's rotation exercise: the three reasons, with this
recipe's file names."""

from __future__ import annotations

from tests.conftest import run_cli


def test_explain_rotate_ca_gives_the_three_reasons_with_the_plans_files() -> None:
    done = run_cli("explain", "rotate-ca", "--set", "etcd_peers=e1,e2,e3")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for heading in (
        "Why trust comes before presentation",
        "Why etcd needs a rolling restart",
        "Why the signer needs a single certificate",
        "The service-account key pair",
    ):
        assert heading in text
    assert "ca-bundle.crt" in text and "ca-signer.crt" in text
    assert "etcd-e1.flags, etcd-e2.flags, etcd-e3.flags" in text
    assert "prove --only rotation" in text


def test_the_handout_has_a_rotation_exercise_with_its_answer() -> None:
    done = run_cli("export", "--format", "markdown")
    assert done.returncode == 0, done.stderr
    questions, _sep, answers = done.stdout.partition("\n## Answers")
    assert "rotate-ca" in questions.split("## 7. Exercises")[1]
    assert "certificate signed by unknown authority" in answers
    assert "one at a time" in answers


def test_the_new_cas_step_names_its_own_files_not_the_old_cas() -> None:
    """The new CA's step reads its texts with its own file names: its Why names ca-new.key
    and the bundle; its departures name ca-new.cnf; another CA's files keep their names."""
    from kpki_openssl.plan import rotation
    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    recipe = load_recipe("kubernetes")
    plan = build_plan(recipe, resolve_variables(recipe))
    for name in ("ca", "etcd-ca", "front-proxy-ca"):
        f = rotation.files(plan, name)
        assert f.new.key_file in f.new.explain and f.bundle in f.new.explain
        assert f"({f.ca.key_file}) signs" not in f.new.explain
        texts = " ".join(d.ours for d in f.new.departures)
        assert f.new.cnf_file in texts and f" {f.ca.cnf_file} " not in texts
    f = rotation.files(plan, "ca")
    renamed = rotation._renamed("etcd-ca.key and ca.key, then ca.crt.", f.ca, f.new)
    assert renamed == "etcd-ca.key and ca-new.key, then ca-new.crt."
