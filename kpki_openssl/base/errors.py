"""Errors the user sees as one line: bad input (exit 2) and failed work (exit 1)."""

from __future__ import annotations

from collections.abc import Sequence


class KpkiError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""

    exit_code = 1


class InputError(KpkiError):
    """A recipe, a --set value or a command-line argument is not valid (exit status 2)."""

    exit_code = 2


class CommandFailed(KpkiError):
    """openssl (or another program) exited non-zero; carries what a user needs to redo it."""

    def __init__(self, argv: Sequence[str], retcode: int | None, stderr: str) -> None:
        self.argv = tuple(argv)
        self.retcode = retcode
        self.stderr = stderr
        super().__init__(f"{argv[0]} exited with status {retcode}")
