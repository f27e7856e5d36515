"""Changing a password while logged in."""

from __future__ import annotations

from kingdom.domain.access import Permission, authorize
from kingdom.domain.identity import ChangePassword
from kingdom.domain.shared import Invalid, Unauthenticated
from kingdom.services.identity.credentials import replace_password
from kingdom.services.identity.password_rules import ensure_acceptable_password
from kingdom.services.identity.sessions import (
    IssuedSession,
    SessionPolicy,
    StagedSession,
    start_session,
)
from kingdom.services.ports import (
    Clock,
    IdGenerator,
    PasswordHasher,
    SecretSource,
    TokenIssuer,
    UnitOfWork,
)
from kingdom.services.resources import USERS


async def change_password(
    command: ChangePassword,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    ids: IdGenerator,
    tokens: TokenIssuer,
    secrets: SecretSource,
    session_policy: SessionPolicy,
) -> IssuedSession | None:
    """Set a user's password; every token and session issued before becomes void.

    Your own password you may always change, but only by proving you know
    the current one (a stolen session alone must not be enough to take the
    account over). Someone else's needs ``users:UPDATE`` on that user, and no
    current password.

    Every session and reset code of the user is revoked and ``token_version``
    bumped, in the same transaction (:func:`replace_password`). Who changed
    their *own* password gets a fresh session back (a new access and refresh
    pair, under the new token version), so the device they did it from stays
    logged in while every other one is logged out; an administrator's change
    returns ``None``.
    """
    actor = command.actor
    own = actor.user_id is not None and actor.user_id == command.user_id
    if not own:
        authorize(actor.context, USERS, Permission.UPDATE, command.user_id)
    elif command.current_password is None:
        # Bad input, not a failed proof: nothing was guessed, nothing is counted.
        raise Invalid("the current password is required to change your own password")
    ensure_acceptable_password(command.new_password)
    async with uow:
        user = await uow.users.get(command.user_id)
        if own:
            assert command.current_password is not None  # refused above
            if not await hasher.verify(user.password_hash, command.current_password):
                raise Unauthenticated("the current password is wrong")
        await replace_password(
            uow, user, await hasher.hash(command.new_password), clock=clock, ids=ids
        )
        staged: StagedSession | None = None
        if own:
            staged = await start_session(
                uow, user, secrets=secrets, clock=clock, ids=ids, policy=session_policy
            )
        await uow.commit()
    return staged.issue(tokens) if staged is not None else None
