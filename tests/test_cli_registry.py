"""The command registry (kpki_openssl.cli.COMMANDS) is the one list of subcommands."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module

from kpki_openssl.cli import COMMANDS, build_parser
from tests.conftest import REPO


def test_every_command_module_is_in_the_registry_once() -> None:
    modules = sorted(p.stem for p in (REPO / "kpki_openssl" / "cli").glob("*.py"))
    commands = [c.module for c in COMMANDS]
    assert len(set(commands)) == len(commands)
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    helpers = {"__init__", "common"}
    assert sorted(commands) == [m for m in modules if m not in helpers]
    for command in COMMANDS:
        assert callable(import_module(f"kpki_openssl.cli.{command.module}").configure)


def test_help_lists_every_command_with_its_line() -> None:
    text = build_parser().format_help()
    for command in COMMANDS:
        assert command.name in text


def test_running_one_command_imports_no_other_command_module() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from kpki_openssl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['list'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('kpki_openssl.cli.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['kpki_openssl.cli.common', 'kpki_openssl.cli.list_steps']"
