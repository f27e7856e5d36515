"""Logging in: e-mail and password in, a new session out.

The session is an access token with the user's permissions and a refresh
token that renews it (see :mod:`kingdom.services.identity.sessions`).
"""

from __future__ import annotations

from typing import Final

from kingdom.domain.identity import Authenticate, UserDisabledError
from kingdom.domain.shared import RateLimited, Unauthenticated
from kingdom.services.identity.lookup import find_user_by_email
from kingdom.services.identity.sessions import IssuedSession, SessionPolicy, start_session
from kingdom.services.ports import (
    Clock,
    IdGenerator,
    LoginThrottle,
    PasswordHasher,
    SecretSource,
    TokenIssuer,
    UnitOfWork,
    login_keys,
)

BAD_CREDENTIALS: Final = "wrong e-mail address or password"


class BadCredentials(Unauthenticated):
    """An unknown address, a wrong password, a disabled account: one error, counted by the throttle.

    A disabled account gets it even for the right password: a different
    answer would confirm the password to whoever guessed it.
    """

    def __init__(self) -> None:
        super().__init__(BAD_CREDENTIALS)


async def authenticate(
    command: Authenticate,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
    clock: Clock,
    throttle: LoginThrottle,
    secrets: SecretSource,
    ids: IdGenerator,
    session_policy: SessionPolicy,
) -> IssuedSession:
    """Log in, unless the account or the client address failed too often lately.

    A blocked attempt is refused (:class:`RateLimited`) before the password
    is looked at, so a right password is refused too and guessing gains
    nothing. Keys come from the typed address, not from a lookup: unknown
    addresses are counted and blocked exactly like registered ones.

    Failures are counted after the unit of work has ended (rolled back):
    the throttle writes in its own transaction, and on SQLite a second
    writer inside the first would wait for the first's lock forever.
    """
    keys = login_keys(command.email, command.client_address)
    wait = await throttle.check(keys, clock.now())
    if wait is not None:
        raise RateLimited(wait)
    try:
        issued = await _log_in(command, uow, hasher, tokens, secrets, clock, ids, session_policy)
    except BadCredentials:
        await throttle.record_failure(keys, clock.now())
        raise
    await throttle.record_success(keys[0])
    return issued


async def _log_in(
    command: Authenticate,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
    secrets: SecretSource,
    clock: Clock,
    ids: IdGenerator,
    session_policy: SessionPolicy,
) -> IssuedSession:
    """Check the credentials and start a session (a new family) for the user.

    The access token carries the effective policy context; the refresh
    token's family lives as long as ``session_policy`` allows.

    An unknown address, a wrong password and a disabled account give the
    same error after the same work (one password verification, real or
    dummy), so neither the answer nor its timing tells an attacker which
    addresses are registered, or that a password guessed for a disabled
    account was right.
    """
    async with uow:
        user = await find_user_by_email(uow, command.email)
        if user is None:
            await hasher.dummy_verify(command.password)
            raise BadCredentials()
        if not await hasher.verify(user.password_hash, command.password):
            raise BadCredentials()
        try:
            user.ensure_can_authenticate()
        except UserDisabledError:
            raise BadCredentials() from None
        if hasher.needs_rehash(user.password_hash):
            # Only now is the plain password at hand to upgrade an outdated hash.
            user.rehash_password(await hasher.hash(command.password))
        staged = await start_session(
            uow, user, secrets=secrets, clock=clock, ids=ids, policy=session_policy
        )
        await uow.commit()
    # Issued after the commit, so a failed commit (a conflict on the rehash) yields no token.
    return staged.issue(tokens)
