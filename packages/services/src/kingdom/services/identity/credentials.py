"""Ending a user's credentials: one place, so that no route forgets one.

A user's way in is a password, and beside it three kinds of credential:
access tokens, refresh sessions and password-reset codes. When the password
changes (by the user, by an administrator, with a reset code) or the user is
disabled, every one issued before must stop working. Access tokens die with
the user's ``token_version``, which the domain bumps; the sessions and codes
are records of their own, ended here.
"""

from __future__ import annotations

from datetime import datetime

from kingdom.domain.identity import User
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork


async def revoke_credentials(uow: UnitOfWork, user_id: str, now: datetime) -> None:
    """End every session and void every outstanding reset code of the user (on commit)."""
    await uow.sessions.revoke_all_for_user(user_id, now)
    await uow.reset_tokens.void_all_for_user(user_id, now)


async def replace_password(
    uow: UnitOfWork, user: User, new_hash: str, *, clock: Clock, ids: IdGenerator
) -> None:
    """Store ``new_hash`` as the user's password and end everything issued before it.

    Every route that sets a password goes through here: the new hash and its
    :class:`~kingdom.domain.identity.PasswordChanged` event, the bumped token
    version, and every session and reset code revoked, all in ``uow``.
    """
    user.change_password(new_hash, new_meta(clock, ids))
    await revoke_credentials(uow, user.id, clock.now())
