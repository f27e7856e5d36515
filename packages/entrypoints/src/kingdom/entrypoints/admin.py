"""First start: when no user exists, create an administrator holding every policy.

The administrator is made through the message bus like any other change (so
the outbox records it). Its password comes from ``KINGDOM_ADMIN_PASSWORD`` or
is generated and shown once; only its hash is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from kingdom.domain.access import Actor, Permission, Policy, ReadScope, compile_policies
from kingdom.domain.identity import AssignRole, AttachPolicies, CreateRole, RegisterUser
from kingdom.domain.shared import MessageMeta
from kingdom.entrypoints.composition import Kingdom
from kingdom.services.meta import new_meta
from kingdom.services.ports import PageRequest
from kingdom.services.resources import RESOURCES

ADMIN_EMAIL = "admin@kingdom.local"
ADMIN_ROLE = "admin"
EVERYTHING = tuple(Policy.of(resource, Permission.ALL) for resource in RESOURCES)


def system_actor() -> Actor:
    """The operator acting outside any login: no user, every policy.

    Used by the first start and by the admin command line; its commands go
    through the bus and its rules like anyone else's.
    """
    return Actor(None, compile_policies(EVERYTHING))


def generate_password() -> str:
    """A random password to show once (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class CreatedAdmin:
    email: str
    password: str
    generated: bool


async def ensure_admin(kingdom: Kingdom, password: str | None) -> CreatedAdmin | None:
    """Create the administrator if the user table is empty; ``None`` if users exist."""
    services = kingdom.services
    existing = await services.users.list(ReadScope.everything(), PageRequest.first(1))
    if existing.edges:
        return None
    generated = password is None
    password = password or generate_password()
    system = system_actor()

    def meta() -> MessageMeta:
        return new_meta(services.clock, services.ids)

    user_id = await kingdom.bus.handle(
        RegisterUser(
            meta=meta(), email=ADMIN_EMAIL, display_name="Administrator", password=password
        )
    )
    await kingdom.bus.handle(
        CreateRole(
            meta=meta(), actor=system, code=ADMIN_ROLE, name="Administrators", policies=EVERYTHING
        )
    )
    await kingdom.bus.handle(
        AssignRole(meta=meta(), actor=system, user_id=user_id, role_code=ADMIN_ROLE)
    )
    return CreatedAdmin(ADMIN_EMAIL, password, generated)


async def ensure_admin_covers_every_resource(kingdom: Kingdom) -> tuple[str, ...]:
    """Give the administrators' role what resources added since it was made need (e.g. audit).

    The role is made with every resource of its day; a later release adds
    resources (the audit trail), and nobody could grant them through the API
    (no one holds them to grant). Attached through the bus like any grant:
    audited, and its holders' tokens refresh. Returns the resources added.
    """
    roles = await kingdom.services.roles.by_ids(ReadScope.everything(), [ADMIN_ROLE])
    role = roles.get(ADMIN_ROLE)
    if role is None:
        return ()
    missing = tuple(policy for policy in EVERYTHING if policy not in role.policies)
    if missing:
        await kingdom.bus.handle(
            AttachPolicies(
                meta=new_meta(kingdom.services.clock, kingdom.services.ids),
                actor=system_actor(),
                subject="role",
                subject_id=ADMIN_ROLE,
                policies=missing,
            )
        )
    return tuple(policy.resource for policy in missing)
