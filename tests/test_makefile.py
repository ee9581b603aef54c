"""The Makefile's own promises: a python3 that cannot make a virtual environment gets one line
naming the package to install, and nothing is written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_a_python_without_venv_gets_one_line_naming_the_package(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # ensurepip missing, as on Debian and Ubuntu without the python3-venv package
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "ensurepip.py").write_text("raise ImportError('no ensurepip here')\n")
    python = tmp_path / "python3"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={tmp_path / "lib"} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-s", "-C", str(REPO), "install", f"PYTHON={python}", f"VENV={venv}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("make: ")]
    assert len(lines) >= 1 and "python3-venv" in lines[0], done.stderr
    assert not venv.exists()
