"""Refresh sessions: one login, kept alive by rotating refresh tokens.

A session is a *family*: its ``id`` stays the same for the whole login while
every refresh replaces the current token (``rotate``), so a token that was
already rotated away (a replayed, probably stolen one) can be traced back to
its family and the whole family revoked.

Only a hash of the current token is stored (as for reset tokens, a leaked
table must not let anyone resume a session). A plain record rather than an
aggregate: it emits no events and nothing else refers to it.

A session ends three ways:

* absolutely, at ``expires_at`` (fixed at login; rotating never extends it);
* by idling: no refresh for longer than the caller's idle limit, counted
  from the last refresh, or from the login if there was none (so
  ``last_used_at`` stays ``None`` until the first rotation);
* by revocation (logout, password change, reuse of an old token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kingdom.domain.identity.errors import RefreshSessionExpired, RefreshSessionRevoked
from kingdom.domain.shared import Invalid


@dataclass
class RefreshSession:
    id: str
    user_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    rotation_counter: int = 0
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def start(
        cls,
        id: str,
        user_id: str,
        token_hash: str,
        now: datetime,
        absolute_lifetime: timedelta,
    ) -> RefreshSession:
        """A new session at login, valid for ``absolute_lifetime`` at most."""
        if absolute_lifetime <= timedelta(0):
            raise Invalid("a refresh session needs a positive lifetime")
        _ensure_hash(token_hash)
        return cls(
            id=id,
            user_id=user_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + absolute_lifetime,
        )

    @property
    def last_activity(self) -> datetime:
        """When the session was last used: its last rotation, or its start."""
        return self.last_used_at if self.last_used_at is not None else self.created_at

    def is_active(self, now: datetime, idle_limit: timedelta) -> bool:
        """Not revoked, not past ``expires_at``, and used within ``idle_limit`` of ``now``."""
        return (
            self.revoked_at is None
            and now < self.expires_at
            and now - self.last_activity <= idle_limit
        )

    def ensure_active(self, now: datetime, idle_limit: timedelta) -> None:
        """Raise why the session is not :meth:`is_active` (revoked first), or return."""
        self._ensure_usable(now)
        if now - self.last_activity > idle_limit:
            raise RefreshSessionExpired(idle=True)

    def rotate(self, new_token_hash: str, now: datetime) -> None:
        """Replace the current token with a new one (a refresh).

        Refused when the session is revoked or past its absolute expiry; the
        idle limit is the caller's policy, checked with :meth:`ensure_active`
        first. ``expires_at`` does not move: rotating cannot keep a login
        alive forever.
        """
        self._ensure_usable(now)
        _ensure_hash(new_token_hash)
        if new_token_hash == self.token_hash:
            raise Invalid("a rotated refresh session needs a new token")
        self.token_hash = new_token_hash
        self.rotation_counter += 1
        self.last_used_at = now

    def revoke(self, now: datetime) -> None:
        """End the session at ``now``; revoking it again keeps the first time."""
        if self.revoked_at is None:
            self.revoked_at = now

    def _ensure_usable(self, now: datetime) -> None:
        # Revoked is reported first: it is final, while expiry is just time passing.
        if self.revoked_at is not None:
            raise RefreshSessionRevoked()
        if now >= self.expires_at:
            raise RefreshSessionExpired(idle=False)


def _ensure_hash(token_hash: str) -> None:
    if not token_hash:
        raise Invalid("a refresh session needs a token hash")
