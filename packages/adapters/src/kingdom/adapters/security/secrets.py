"""One-time secrets (password-reset links and the like) from the OS's CSPRNG."""

from __future__ import annotations

import secrets
from typing import Final

from kingdom.services.ports import SecretSource

MIN_BYTES: Final = 16
"""128 bits: the least the :class:`SecretSource` port promises."""


class UrlSafeSecrets(SecretSource):
    """``secrets.token_urlsafe(nbytes)``: ``nbytes`` random bytes, base64url without padding."""

    def __init__(self, nbytes: int = 32) -> None:
        if nbytes < MIN_BYTES:
            raise ValueError(f"a secret needs at least {MIN_BYTES} random bytes, got {nbytes}")
        self.nbytes = nbytes

    def new_secret(self) -> str:
        return secrets.token_urlsafe(self.nbytes)
