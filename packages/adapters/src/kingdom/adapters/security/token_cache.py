"""A bounded cache of verified access tokens: the fast path for a repeated bearer.

A client sends the same access token with every request for its whole
lifetime (15 minutes by default). Checking it again each time repeats the
header parsing, the signature (an Ed25519 or RSA verification, or an HMAC)
and the claim checks, with the same answer until the token expires. So
:class:`CachingTokenVerifier` remembers the :class:`VerifiedToken` of each
bearer string it has accepted, until that token's ``exp``.

What it does not cache, on purpose:

* rejections: only tokens that passed every check enter the cache, so
  garbage cannot fill it and a forged token is checked every time;
* revocation: the caller still compares ``token_version`` and the account
  status with the database on every request, so a password change or a
  disabled account takes effect at once, cached or not.

Entries live until the token's ``exp`` exactly, without the verifier's
leeway: a token used after its ``exp`` goes back through the full check.
Keys change only when the server restarts (with an empty cache), so a key
removed from the ring can never leave a token behind in here.

Not thread-safe: one instance serves one event loop (a uvicorn worker).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Protocol

from kingdom.adapters.security.tokens import VerifiedToken
from kingdom.services.ports import Clock

DEFAULT_MAX_ENTRIES: Final = 10_000
"""About 10 MB at ~1 KB per token: far more bearers than one worker sees in 15 minutes."""


class TokenVerifier(Protocol):
    """What :class:`~kingdom.adapters.security.tokens.JwtTokenVerifier` offers."""

    def verify(self, token: str) -> VerifiedToken: ...


class CachingTokenVerifier:
    """Wraps a :class:`TokenVerifier`; a bearer it accepted is not checked again until ``exp``.

    A bounded LRU: past ``max_entries`` the least recently used bearer is
    forgotten (and fully checked again if it comes back).
    """

    __slots__ = ("_clock", "_entries", "_inner", "_max_entries")

    def __init__(
        self, inner: TokenVerifier, *, clock: Clock, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._inner = inner
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, VerifiedToken] = OrderedDict()

    def verify(self, token: str) -> VerifiedToken:
        now = self._clock.now()
        cached = self._entries.get(token)
        if cached is not None:
            if now < cached.expires_at:
                self._entries.move_to_end(token)
                return cached
            # Expired: forget it and let the inner verifier decide (and refuse).
            del self._entries[token]
        verified = self._inner.verify(token)  # raises Unauthenticated: nothing cached
        if now < verified.expires_at:
            self._entries[token] = verified
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return verified

    def __len__(self) -> int:
        return len(self._entries)
