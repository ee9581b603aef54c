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
