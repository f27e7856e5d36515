"""Attaching policies directly to a user or a role, and detaching them."""

from __future__ import annotations

from kingdom.domain.access import Permission, authorize
from kingdom.domain.identity import (
    AttachPolicies,
    DetachPolicies,
    PolicyHolder,
    PolicySubject,
    Role,
    ensure_can_grant,
)
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork
from kingdom.services.resources import ROLES, USERS


def _resource(subject: PolicySubject) -> str:
    return USERS if subject == "user" else ROLES


async def _holder(uow: UnitOfWork, subject: PolicySubject, subject_id: str) -> PolicyHolder:
    if subject == "user":
        return await uow.users.get(subject_id)
    return await uow.roles.get(subject_id)


async def attach_policies(
    command: AttachPolicies, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> None:
    """Attach policies (needs UPDATE on the user or role, and every policy attached)."""
    context = command.actor.context
    authorize(context, _resource(command.subject), Permission.UPDATE, command.subject_id)
    ensure_can_grant(context, command.policies)
    async with uow:
        holder = await _holder(uow, command.subject, command.subject_id)
        holder.attach_policies(command.policies, new_meta(clock, ids))
        await uow.commit()


async def detach_policies(
    command: DetachPolicies, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> None:
    """Detach policies (needs UPDATE on the user or role; removing access grants nothing).

    Takes effect at once: the access tokens of every user who loses them
    (the user, or each holder of the role) are void from the commit on, and
    a refresh gets a token without them. Sessions live on.
    """
    authorize(
        command.actor.context, _resource(command.subject), Permission.UPDATE, command.subject_id
    )
    async with uow:
        holder = await _holder(uow, command.subject, command.subject_id)
        holder.detach_policies(command.policies, new_meta(clock, ids))
        if isinstance(holder, Role):
            # One transaction for the role and every holder: a holder changed
            # concurrently conflicts, and the bus runs the whole command again.
            for user in await uow.users.holders_of_role(holder.code):
                user.role_policies_detached(holder.code)
        await uow.commit()
