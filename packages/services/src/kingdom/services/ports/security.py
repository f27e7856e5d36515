"""Secrets: password hashing, access tokens, random one-time secrets.

The service layer decides *when* to hash, verify or issue; *how* (argon2,
JWT, ``secrets``) is an adapter's business and can change without touching a
handler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from kingdom.domain.access import PolicyContext


class PasswordHasher(ABC):
    """Slow, salted password hashing.

    ``hash``, ``verify`` and ``dummy_verify`` are coroutines on purpose: a good
    hash costs tens of milliseconds of CPU, and an adapter must be able to run
    it off the event loop (``asyncio.to_thread``) instead of stalling every
    other request.
    """

    @abstractmethod
    async def hash(self, password: str) -> str:
        """A self-describing hash (algorithm, parameters, salt) of ``password``."""

    @abstractmethod
    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; never raises for a mismatch."""

    @abstractmethod
    def needs_rehash(self, password_hash: str) -> bool:
        """Whether ``password_hash`` was made with outdated parameters (cheap: parses only)."""

    @abstractmethod
    async def dummy_verify(self, password: str) -> None:
        """Spend the time of one :meth:`verify` without a user.

        Called when the e-mail is unknown, so "no such user" and "wrong
        password" cost the same and cannot be told apart by timing.
        """


@dataclass(frozen=True, kw_only=True)
class IssuedToken:
    """An access token and when it stops being accepted."""

    # A bearer token is a credential: keep it out of reprs and therefore logs.
    token: str = field(repr=False)
    expires_at: datetime


class TokenIssuer(ABC):
    @abstractmethod
    def issue(self, user_id: str, context: PolicyContext, token_version: int) -> IssuedToken:
        """Sign a token naming ``user_id``, embedding ``context`` and ``token_version``.

        The context spares every request a database lookup; the version lets
        a password change or a disabled account void older tokens.
        """


class SecretSource(ABC):
    @abstractmethod
    def new_secret(self) -> str:
        """A fresh random secret, >= 128 bits, URL-safe (it travels in links and e-mails)."""
