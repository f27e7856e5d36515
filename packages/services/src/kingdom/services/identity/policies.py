"""Attaching policies directly to a user or a role, and detaching them."""

from __future__ import annotations

from kingdom.domain.access import Actor, Permission, authorize
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
from kingdom.services.resources import ROLES, USERS, owner_from_id


def _authorize_update(actor: Actor, subject: PolicySubject, subject_id: str) -> None:
    """UPDATE on the user (which owns itself, so ``"@own"`` counts) or on the role."""
    resource = USERS if subject == "user" else ROLES
    authorize(
        actor.context,
        resource,
        Permission.UPDATE,
        subject_id,
        caller=actor.user_id,
        owner=owner_from_id(resource, subject_id),
    )


async def _holder(uow: UnitOfWork, subject: PolicySubject, subject_id: str) -> PolicyHolder:
    if subject == "user":
        return await uow.users.get(subject_id)
    return await uow.roles.get(subject_id)


async def attach_policies(
    command: AttachPolicies, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> None:
    """Attach policies (needs UPDATE on the user or role, and every policy attached).

    Takes effect at once, like a detach: the access tokens of every user who
    gains them (the user, or each holder of the role) are void from the
    commit on, and a refresh gets a token with them.
    """
    _authorize_update(command.actor, command.subject, command.subject_id)
    ensure_can_grant(command.actor.context, command.policies)
    async with uow:
        holder = await _holder(uow, command.subject, command.subject_id)
        holder.attach_policies(command.policies, new_meta(clock, ids))
        await _void_holders_tokens(uow, holder)
        await uow.commit()


async def detach_policies(
    command: DetachPolicies, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> None:
    """Detach policies (needs UPDATE on the user or role; removing access grants nothing).

    Takes effect at once: the access tokens of every user who loses them
    (the user, or each holder of the role) are void from the commit on, and
    a refresh gets a token without them. Sessions live on.
    """
    _authorize_update(command.actor, command.subject, command.subject_id)
    async with uow:
        holder = await _holder(uow, command.subject, command.subject_id)
        holder.detach_policies(command.policies, new_meta(clock, ids))
        await _void_holders_tokens(uow, holder)
        await uow.commit()


async def _void_holders_tokens(uow: UnitOfWork, holder: PolicyHolder) -> None:
    """A role's policies changed: void the tokens of every user holding it.

    (A user's own change voids its tokens in the aggregate itself.) One
    transaction for the role and every holder: a holder changed concurrently
    conflicts, and the bus runs the whole command again.
    """
    if isinstance(holder, Role):
        for user in await uow.users.holders_of_role(holder.code):
            user.role_policies_changed(holder.code)
