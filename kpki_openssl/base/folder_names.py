"""The names the tool keeps for itself in an output folder: no recipe may write them, and the
checks pass over them."""

from __future__ import annotations

LOG_NAME = "commands.sh"  # every command that ran, replayable
META_DIR = ".kpki"  # lock, record/, stage/, replaced/, replacing.json: the tool's bookkeeping
