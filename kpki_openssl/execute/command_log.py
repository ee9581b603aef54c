"""The command log, DIR/commands.sh: every command a run ran and every file it wrote, in order,
as a script that `bash commands.sh` replays in an empty folder.

Each entry is appended with a single write (or cut back when the disk is full), so a killed run
never leaves half an entry. The entries of a step are made while it runs and appended by the
orchestration (runner.py) in plan order, before the step's files reach DIR: the log explains
every file in DIR.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from kpki_openssl.base import safefs
from kpki_openssl.base.folder_names import LOG_NAME
from kpki_openssl.plan import shell_text

LOG_HEADER = (
    shell_text.SCRIPT_PROLOGUE
    + "# Command log written by kpki_openssl: every command it ran and every file it wrote,\n"
    "# in order. Replay it in an empty folder with: bash commands.sh\n"
    "# Where a key exists already it is kept, never replaced (the line before its command\n"
    "# checks).\n"
)


def now() -> str:
    """The time an entry is stamped with (UTC, to the second)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def note(text: str) -> str:
    """A comment entry: what the tool did besides running a command."""
    return f"# {now()} {text}\n"


class CommandLog:
    """DIR/commands.sh, appended to whole entries at a time (from any thread)."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOG_NAME
        self._mutex = threading.Lock()

    def append(self, entry: str) -> None:
        """Append one entry (or several, joined) with a single write; WriteFailed on a full
        disk, with the log cut back to what it was."""
        with self._mutex:
            safefs.append_whole(self.path, entry.encode(), LOG_HEADER.encode())

    def note(self, text: str) -> None:
        """Append a comment entry (see `note`)."""
        self.append(note(text))
