"""Login sessions: an access token plus an opaque refresh token that renews it.

A login starts a session *family* (a :class:`~kingdom.domain.identity.RefreshSession`)
and hands out a refresh token ``<session id>.<secret>``. The secret comes
from the :class:`~kingdom.services.ports.SecretSource` (>= 128 random bits)
and only its SHA-256 is stored, so a leaked table resumes no session. The id
names the family, so a token that was already rotated away can still be
traced to its family (and the family revoked: see
:func:`kingdom.services.identity.refresh.refresh_access`).

Handlers stage a session inside their unit of work (:func:`start_session`,
:func:`rotate_session`) and issue the tokens only after the commit
(:meth:`StagedSession.issue`): a commit that fails must not leave a token
in anyone's hands that no stored session backs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from kingdom.domain.access import PolicyContext, compile_policies
from kingdom.domain.identity import RefreshSession, User
from kingdom.domain.shared import Unauthenticated
from kingdom.services.identity.secret_hashes import hash_secret
from kingdom.services.ports import (
    Clock,
    IdGenerator,
    IssuedToken,
    SecretSource,
    TokenIssuer,
    UnitOfWork,
)

SEPARATOR: Final = "."
"""Between the session id and the secret in a refresh token (never in the id)."""
MAX_REFRESH_TOKEN_LENGTH: Final = 512
"""Far above a real token (a UUID, a dot, ~43 characters of secret); longer is garbage."""
_SHAPE: Final = re.compile(r"([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9._~-]+)")
"""An id as ids are made (a UUID), then URL-safe secret characters: anything else
(a NUL byte, say, which PostgreSQL refuses in text) never reaches a query."""


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session family may live: idle at most ``idle_limit``, in all ``absolute_lifetime``.

    Rotating a refresh token restarts the idle clock but never moves the
    absolute end, so a stolen token cannot keep a login alive forever.
    """

    idle_limit: timedelta = timedelta(days=1)
    absolute_lifetime: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.idle_limit <= timedelta(0):
            raise ValueError("a session's idle limit must be positive")
        if self.absolute_lifetime < self.idle_limit:
            raise ValueError("a session's absolute lifetime cannot be shorter than its idle limit")


@dataclass(frozen=True, kw_only=True)
class IssuedSession(IssuedToken):
    """An access token (``token``, ``expires_at``) and the refresh token that renews it.

    ``refresh_expires_at`` is when the family ends at the latest (its
    absolute expiry); idling or revocation may end it sooner.
    """

    refresh_token: str = field(repr=False)
    refresh_expires_at: datetime


class InvalidRefreshToken(Unauthenticated):
    """One answer for every refused refresh token.

    Unknown, malformed, expired, idle, revoked or replayed: telling them
    apart would help someone probing stolen tokens and the user not at all,
    who must log in again in every case.
    """

    def __init__(self) -> None:
        super().__init__("invalid or expired refresh token; log in again")


def format_refresh_token(session_id: str, secret: str) -> str:
    if SEPARATOR in session_id or not session_id or not secret:
        raise ValueError("a refresh token needs a session id without dots and a secret")
    return f"{session_id}{SEPARATOR}{secret}"


def parse_refresh_token(token: str) -> tuple[str, str] | None:
    """``(session id, secret)``, or ``None`` if ``token`` is not shaped like a refresh token."""
    shape = _SHAPE.fullmatch(token) if len(token) <= MAX_REFRESH_TOKEN_LENGTH else None
    if shape is None:
        return None
    return shape.group(1), shape.group(2)


@dataclass(frozen=True)
class StagedSession:
    """A session started or rotated in a unit of work, and what its tokens will carry."""

    user_id: str
    token_version: int
    context: PolicyContext
    session_id: str
    secret: str = field(repr=False)
    expires_at: datetime

    def issue(self, tokens: TokenIssuer) -> IssuedSession:
        """The token pair; call it once the unit of work has committed."""
        access = tokens.issue(self.user_id, self.context, self.token_version)
        return IssuedSession(
            token=access.token,
            expires_at=access.expires_at,
            refresh_token=format_refresh_token(self.session_id, self.secret),
            refresh_expires_at=self.expires_at,
        )


async def start_session(
    uow: UnitOfWork,
    user: User,
    *,
    secrets: SecretSource,
    clock: Clock,
    ids: IdGenerator,
    policy: SessionPolicy,
) -> StagedSession:
    """Add a new session family for ``user`` to ``uow`` (written when it commits)."""
    secret = secrets.new_secret()
    session = RefreshSession.start(
        ids.new_id(), user.id, hash_secret(secret), clock.now(), policy.absolute_lifetime
    )
    await uow.sessions.add(session)
    return await _staged(uow, user, session, secret)


async def rotate_session(
    uow: UnitOfWork, session: RefreshSession, user: User, *, secrets: SecretSource, clock: Clock
) -> StagedSession:
    """Give ``session`` a new current token (the old one is used up from the commit on)."""
    secret = secrets.new_secret()
    session.rotate(hash_secret(secret), clock.now())
    return await _staged(uow, user, session, secret)


async def _staged(
    uow: UnitOfWork, user: User, session: RefreshSession, secret: str
) -> StagedSession:
    # The user's policies and token version as they are now: a refresh picks
    # up roles granted or taken since the login.
    roles = await uow.roles.get_many(user.role_codes)
    return StagedSession(
        user_id=user.id,
        token_version=user.token_version,
        context=compile_policies(user.effective_policies(roles)),
        session_id=session.id,
        secret=secret,
        expires_at=session.expires_at,
    )
