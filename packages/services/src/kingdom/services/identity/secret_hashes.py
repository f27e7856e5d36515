"""Hashing random one-time secrets (reset codes, refresh tokens) for storage.

Only the SHA-256 of such a secret is stored. Unlike a password, the secret
has >= 128 random bits, so a fast unsalted hash is enough to make a leaked
table useless, and it lets a reset token be found by its hash in one indexed
lookup.
"""

from __future__ import annotations

import hashlib


def hash_secret(secret: str) -> str:
    """The lowercase hex SHA-256 of ``secret`` (64 characters)."""
    return hashlib.sha256(secret.encode()).hexdigest()
