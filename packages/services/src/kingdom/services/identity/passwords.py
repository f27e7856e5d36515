"""Changing a password while logged in."""

from __future__ import annotations

from kingdom.domain.access import Permission, authorize
from kingdom.domain.identity import ChangePassword
from kingdom.domain.shared import Unauthenticated
from kingdom.services.identity.password_rules import ensure_acceptable_password
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, PasswordHasher, UnitOfWork
from kingdom.services.resources import USERS


async def change_password(
    command: ChangePassword,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    ids: IdGenerator,
) -> None:
    """Set a user's password; every token issued before becomes void.

    Your own password you may always change, but only by proving you know
    the current one (a stolen session alone must not be enough to take the
    account over). Someone else's needs ``users:UPDATE`` on that user, and no
    current password.
    """
    actor = command.actor
    own = actor.user_id is not None and actor.user_id == command.user_id
    if not own:
        authorize(actor.context, USERS, Permission.UPDATE, command.user_id)
    ensure_acceptable_password(command.new_password)
    async with uow:
        user = await uow.users.get(command.user_id)
        if own and (
            command.current_password is None
            or not await hasher.verify(user.password_hash, command.current_password)
        ):
            raise Unauthenticated("the current password is wrong")
        user.change_password(await hasher.hash(command.new_password), new_meta(clock, ids))
        await uow.commit()
