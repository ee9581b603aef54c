"""The autouse fixtures of conftest: each test in its own empty folder, HOME inside it, for the
test and for the programs the runner starts through plumbum."""

from __future__ import annotations

import os
from pathlib import Path

from plumbum import local


def test_a_test_runs_in_its_own_empty_folder_with_its_own_home(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path and list(tmp_path.iterdir()) == []
    assert os.environ["HOME"] == str(tmp_path / "home") and "KUBECONFIG" not in os.environ
    # what the runner's children see (plumbum copies the environment once, at import)
    seen = local["sh"]["-c", 'echo "$HOME ${KUBECONFIG-unset}"']().split()
    assert seen == [str(tmp_path / "home"), "unset"]
