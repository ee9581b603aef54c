"""Making the files the plan can only describe (plan/generated.py): a random secret, a token
made of an id and that secret, an expiry time. Randomness and the clock are read here, when
the step runs, and nothing made is printed or logged; the log gets the action's bash line."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kpki_openssl.plan.generated import HEX_BYTES, ExpiresIn, GeneratedFile, JoinedToken, RandomHex


def make(action: GeneratedFile, folder: Path, now: datetime | None = None) -> str:
    """The file's text, made now; `folder` holds the step's earlier files (the secret)."""
    if isinstance(action, RandomHex):
        return secrets.token_hex(HEX_BYTES)
    if isinstance(action, JoinedToken):
        secret = (folder / action.secret_file).read_text(encoding="ascii").strip()
        return f"{action.token_id}.{secret}"
    if isinstance(action, ExpiresIn):
        when = (now or datetime.now(timezone.utc)) + timedelta(hours=action.hours)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"no way to make {type(action).__name__}")
