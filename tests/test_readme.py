"""README statements that a run can check: the dry-run excerpt is the real output, shortened."""

from __future__ import annotations

from tests.conftest import REPO, run_cli


def test_dry_run_excerpt_is_the_real_output_shortened() -> None:
    """Every line of the README's excerpt is in the real output, in the same order."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## What dry-run shows", 1)[1]
    excerpt = section.split("```", 2)[1].strip("\n").splitlines()
    done = run_cli("run", "apiserver", "--dry-run", "--out", str(REPO / "no-such-folder"))
    assert done.returncode == 0, done.stderr
    real = iter(done.stdout.splitlines())
    missing = [line for line in excerpt if not any(line == got for got in real)]
    assert not missing, missing
