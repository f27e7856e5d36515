"""Roles: creating them and handing them out."""

from __future__ import annotations

from kingdom.domain.access import Actor, Permission, authorize
from kingdom.domain.identity import AssignRole, CreateRole, RevokeRole, Role, ensure_can_grant
from kingdom.domain.shared import Conflict
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork
from kingdom.services.resources import ROLES, USERS


async def create_role(command: CreateRole, uow: UnitOfWork, clock: Clock, ids: IdGenerator) -> str:
    """Create a role (needs ``roles:CREATE`` on every role); returns its code.

    Its initial policies are a grant like any other: the creator must hold
    them, or creating a role would be a way around the escalation check.
    """
    context = command.actor.context
    authorize(context, ROLES, Permission.CREATE)
    ensure_can_grant(context, command.policies)
    async with uow:
        if await uow.roles.find(command.code) is not None:
            raise Conflict(f"role {command.code!r} already exists")
        role = Role.create(
            code=command.code,
            name=command.name,
            policies=command.policies,
            meta=new_meta(clock, ids),
        )
        await uow.roles.add(role)
        await uow.commit()
    return role.code


async def assign_role(command: AssignRole, uow: UnitOfWork, clock: Clock, ids: IdGenerator) -> None:
    """Give a user a role (needs ``users:UPDATE`` on the user, and every policy of the role).

    Takes effect at once: the user's access tokens are void from the commit
    on (the domain bumps ``token_version``), and a refresh gets one with the role.
    """
    context = command.actor.context
    _authorize_user_update(command.actor, command.user_id)
    async with uow:
        role = await uow.roles.get(command.role_code)
        ensure_can_grant(context, role.policies)
        user = await uow.users.get(command.user_id)
        user.assign_role(role, new_meta(clock, ids))
        await uow.commit()


async def revoke_role(command: RevokeRole, uow: UnitOfWork, clock: Clock, ids: IdGenerator) -> None:
    """Take a role away (needs ``users:UPDATE`` on the user).

    No escalation check: removing access grants nothing. The role need not
    exist any more, so that a stale code can still be cleaned up. Takes
    effect at once: the user's access tokens are void from the commit on (the
    domain bumps ``token_version``), and a refresh gets one without the role.
    """
    _authorize_user_update(command.actor, command.user_id)
    async with uow:
        user = await uow.users.get(command.user_id)
        user.revoke_role(command.role_code, new_meta(clock, ids))
        await uow.commit()


def _authorize_user_update(actor: Actor, user_id: str) -> None:
    # A user owns itself: "@own" grants on users reach the caller's own user.
    authorize(actor.context, USERS, Permission.UPDATE, user_id, caller=actor.user_id, owner=user_id)
