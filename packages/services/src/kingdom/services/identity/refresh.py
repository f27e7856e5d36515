"""Renewing and ending sessions with a refresh token."""

from __future__ import annotations

import hmac
from datetime import datetime

from kingdom.domain.identity import Logout, RefreshAccess, RefreshSession
from kingdom.services.identity.secret_hashes import hash_secret
from kingdom.services.identity.sessions import (
    InvalidRefreshToken,
    IssuedSession,
    SessionPolicy,
    parse_refresh_token,
    rotate_session,
)
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, SecretSource, TokenIssuer, UnitOfWork


class RefreshTokenReused(InvalidRefreshToken):
    """A used refresh token came back and its family was revoked just now.

    The caller sees the same answer as for any refused token; the type lets
    an entrypoint log the incident (with what it knows of the client).
    """

    def __init__(self, user_id: str, session_id: str) -> None:
        super().__init__()
        self.user_id = user_id
        self.session_id = session_id


async def refresh_access(
    command: RefreshAccess,
    uow: UnitOfWork,
    tokens: TokenIssuer,
    secrets: SecretSource,
    clock: Clock,
    ids: IdGenerator,
    session_policy: SessionPolicy,
) -> IssuedSession:
    """Rotate the session: the presented refresh token is used up, a new pair comes back.

    The new access token carries the user's policies and ``token_version``
    as they are *now*, and a disabled user gets nothing.

    The family is found by the id in the token, then the secret's hash is
    compared with the stored one (``hmac.compare_digest``):

    * it matches and the family is live (not revoked, within its absolute
      and idle limits): rotate, commit, issue;
    * it does not match: the token is one this family already rotated away
      (or a forgery naming the family: ids are random UUIDs, so whoever has
      one saw a token of the family). Someone holds a copy, the thief or
      the user, and which one cannot be told; so a live family is revoked
      and that is committed, together with a
      :class:`~kingdom.domain.identity.RefreshTokenReuseDetected` event
      (via the user, so through the outbox), before the refusal.
      :class:`RefreshTokenReused` says so to the entrypoint;
    * anything else (malformed, unknown, expired, idle, revoked): refused.

    Every refusal is :class:`InvalidRefreshToken`, with one message.

    Concurrency: of N refreshes presenting the same current token at once,
    each rotates in its own unit of work, and the commit is a compare-and-set
    on the stored token hash, so exactly one commits and gets a new pair. The
    others fail with ``ConcurrencyConflict``; the bus runs them again, and on
    fresh data their token is a used one: the first of them revokes the
    family (one event), the rest find it revoked. So exactly one request
    succeeds, and its new pair then dies with the family: a client must
    never refresh the same token twice at once.
    """
    parsed = parse_refresh_token(command.refresh_token)
    if parsed is None:
        raise InvalidRefreshToken()
    session_id, secret = parsed
    now = clock.now()
    async with uow:
        session = await uow.sessions.find(session_id)
        if session is None:
            raise InvalidRefreshToken()
        live = session.is_active(now, session_policy.idle_limit)
        if not hmac.compare_digest(session.token_hash, hash_secret(secret)):
            if live:
                await _revoke_for_reuse(uow, session, now, clock, ids)
                raise RefreshTokenReused(session.user_id, session.id)
            raise InvalidRefreshToken()
        user = await uow.users.find(session.user_id)
        if not live or user is None or not user.is_active:
            raise InvalidRefreshToken()
        staged = await rotate_session(uow, session, user, secrets=secrets, clock=clock)
        await uow.commit()
    return staged.issue(tokens)


async def _revoke_for_reuse(
    uow: UnitOfWork, session: RefreshSession, now: datetime, clock: Clock, ids: IdGenerator
) -> None:
    session.revoke(now)
    # Users are never deleted (and their sessions would go with them): it exists.
    user = await uow.users.get(session.user_id)
    user.report_refresh_token_reuse(session.id, new_meta(clock, ids))
    await uow.commit()


async def logout(command: Logout, uow: UnitOfWork, clock: Clock) -> None:
    """Revoke the family of a current refresh token; answer the same whatever the token.

    Idempotent: a family already revoked stays revoked at its first time.
    Only the current token logs out: an unknown, malformed or used one
    changes nothing and is not an error either, so logging out tells nobody
    whether a token was good.
    """
    parsed = parse_refresh_token(command.refresh_token)
    if parsed is None:
        return
    session_id, secret = parsed
    async with uow:
        session = await uow.sessions.find(session_id)
        if session is None or not hmac.compare_digest(session.token_hash, hash_secret(secret)):
            return
        session.revoke(clock.now())
        await uow.commit()
