"""The server's one secret, and the keys derived from it.

Production passes ``KINGDOM_TOKEN_SIGNING_KEY``. In development a random key
is generated once and kept in the data directory (owner-only), so tokens
survive restarts without any configuration. Cursor signing uses a key
derived from the same secret (HMAC with a fixed label), so there is one
secret to manage and the two uses never share a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from kingdom.entrypoints.settings import Settings

KEY_FILE = "signing.key"


def signing_secret(settings: Settings) -> bytes:
    if settings.signing_key is not None:
        return settings.signing_key.encode()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        raise ValueError(f"{path} holds a key shorter than 32 bytes; delete it to regenerate")
    return secret


def key_id(secret: bytes) -> str:
    """A stable, non-secret name for ``secret`` (the JWT ``kid``)."""
    return "hs-" + hashlib.sha256(b"kingdom-kid:" + secret).hexdigest()[:16]


def derived_key(secret: bytes, label: str) -> bytes:
    return hmac.new(secret, f"kingdom:{label}".encode(), hashlib.sha256).digest()


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race: use its key
        return
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
