"""Ending a user's access."""

from __future__ import annotations

from kingdom.domain.access import Permission, authorize
from kingdom.domain.identity import DisableUser
from kingdom.services.identity.credentials import revoke_credentials
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork
from kingdom.services.resources import USERS


async def disable_user(
    command: DisableUser, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> None:
    """Disable a user, void their tokens, sessions and reset codes (needs ``users:DELETE``).

    DELETE rather than UPDATE: users are never erased (their history refers
    to them), so disabling is how a user's life ends, and it should take the
    stronger grant that editing a profile does not.
    """
    actor = command.actor
    # A user owns itself, so "@own" DELETE on users lets a user disable itself.
    authorize(
        actor.context,
        USERS,
        Permission.DELETE,
        command.user_id,
        caller=actor.user_id,
        owner=command.user_id,
    )
    async with uow:
        user = await uow.users.get(command.user_id)
        user.disable(new_meta(clock, ids))
        await revoke_credentials(uow, user.id, clock.now())
        await uow.commit()
