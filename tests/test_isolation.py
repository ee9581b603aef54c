"""The autouse fixtures of conftest: each test in its own empty folder, HOME inside it, for the
test and for the programs the tool starts (base/processes.py)."""

from __future__ import annotations

import os
from pathlib import Path

from kpki_openssl.base import processes


def test_a_test_runs_in_its_own_empty_folder_with_its_own_home(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path and list(tmp_path.iterdir()) == []
    assert os.environ["HOME"] == str(tmp_path / "home") and "KUBECONFIG" not in os.environ
    # what the tool's children see
    argv = ["sh", "-c", 'echo "$HOME ${KUBECONFIG-unset}"']
    seen = processes.run(argv, timeout=processes.READ).stdout.split()
    assert seen == [str(tmp_path / "home"), "unset"]
