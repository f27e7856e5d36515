"""Identity over GraphQL: users, roles, logging in, and the commands that change them."""

from __future__ import annotations

import logging
from typing import Any, Final

from ariadne import EnumType, MutationType, ObjectType, QueryType

from kingdom.domain.access import Permission, ReadScope
from kingdom.domain.identity import (
    AssignRole,
    AttachPolicies,
    Authenticate,
    ChangePassword,
    CreateRole,
    DetachPolicies,
    DisableUser,
    Logout,
    RefreshAccess,
    RegisterUser,
    RequestPasswordReset,
    ResetPassword,
    RevokeRole,
    UserStatus,
)
from kingdom.domain.shared import Invalid
from kingdom.entrypoints.graphql import global_ids
from kingdom.entrypoints.graphql.context import Info, Resolver, request_context
from kingdom.entrypoints.graphql.directives import require_write
from kingdom.entrypoints.graphql.nodes import load_node, policies_from_input
from kingdom.entrypoints.graphql.pagination import connection, page_request
from kingdom.entrypoints.graphql.selection import USER_ROLE_FIELDS, as_selected, selects
from kingdom.services.identity.refresh import RefreshTokenReused
from kingdom.services.identity.sessions import IssuedSession
from kingdom.services.ports import RoleView, UserView
from kingdom.services.resources import ROLES, USERS

logger = logging.getLogger("kingdom.entrypoints.graphql")

query = QueryType()
mutation = MutationType()
user = ObjectType("User")
role = ObjectType("Role")
user_status = EnumType("UserStatus", UserStatus)
create_role_payload = ObjectType("CreateRolePayload")
policies_payloads = [ObjectType("AttachPoliciesPayload"), ObjectType("DetachPoliciesPayload")]
user_payloads = [
    ObjectType(name) for name in ("AssignRolePayload", "RevokeRolePayload", "DisableUserPayload")
]


# Objects


@user.field("id")
def resolve_user_id(obj: UserView, *_: Any) -> str:
    return global_ids.encode("User", obj.id)


@user.field("roles")
async def resolve_user_roles(obj: UserView, info: Info, scope: ReadScope) -> list[RoleView]:
    loaded = await request_context(info).loaders.roles(scope).load_many(obj.role_codes)
    return [found for found in loaded if found is not None]


@role.field("id")
def resolve_role_id(obj: RoleView, *_: Any) -> str:
    return global_ids.encode("Role", obj.code)


def _shows_roles(info: Info, *path: str) -> bool:
    """Whether the users this field resolves to (at ``path``) show their role codes."""
    return selects(info, USER_ROLE_FIELDS, *path)


# Queries


@query.field("viewer")
async def resolve_viewer(_: None, info: Info) -> UserView | None:
    """The caller, whatever the caller's users:READ grants: one may always see oneself."""
    context = request_context(info)
    user_id = context.actor.user_id
    if user_id is None:
        return None
    oneself = ReadScope(all=False, ids=frozenset({user_id}))
    loader = context.loaders.users(oneself, with_roles=_shows_roles(info))
    # Read now rather than queued for a batch: nothing else asks alongside.
    await loader.prefetch((user_id,))
    return await loader.load(user_id)  # done: no wait


@query.field("users")
async def resolve_users(_: None, info: Info, scope: ReadScope, **arguments: Any) -> dict[str, Any]:
    request = as_selected(info, page_request(**arguments))
    users = request_context(info).services.users
    return connection(
        await users.list(scope, request, with_roles=_shows_roles(info, "edges", "node"))
    )


@query.field("user")
async def resolve_user(_: None, info: Info, scope: ReadScope, id: str) -> UserView | None:
    loader = request_context(info).loaders.users(scope, with_roles=_shows_roles(info))
    return await loader.load(global_ids.decode_as(id, "User"))


@query.field("roles")
async def resolve_roles(_: None, info: Info, scope: ReadScope, **arguments: Any) -> dict[str, Any]:
    request = as_selected(info, page_request(**arguments))
    return connection(await request_context(info).services.roles.list(scope, request))


@query.field("role")
async def resolve_role(_: None, info: Info, scope: ReadScope, id: str) -> RoleView | None:
    return await request_context(info).loaders.roles(scope).load(global_ids.decode_as(id, "Role"))


# Mutations


@mutation.field("registerUser")
async def resolve_register_user(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    # For a taken address the id names nobody (see register_user): the payload
    # has no `user` field to load, so the answer looks the same either way.
    context = request_context(info)
    user_id = await context.send(
        RegisterUser(
            meta=context.meta(),
            email=input["email"],
            display_name=input["display_name"],
            password=input["password"],
            client_address=context.client_address,
            idempotency_key=input.get("idempotency_key"),
        ),
    )
    return {"user_id": global_ids.encode("User", user_id)}


@mutation.field("login")
async def resolve_login(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    # One command per resolver call: aliased or repeated logins in one
    # document are separate attempts to the throttle.
    issued: IssuedSession = await request_context(info).send(
        Authenticate(
            meta=request_context(info).meta(),
            email=input["email"],
            password=input["password"],
            client_address=request_context(info).client_address,
        ),
    )
    return _session_payload(issued)


@mutation.field("refresh")
async def resolve_refresh(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    try:
        issued: IssuedSession = await context.send(
            RefreshAccess(meta=context.meta(), refresh_token=input["refresh_token"])
        )
    except RefreshTokenReused as reused:
        # The caller learns nothing more than for any refused token; operators must.
        logger.warning(
            "refresh token reuse: session %s of user %s revoked (request %s, client %s)",
            reused.session_id,
            reused.user_id,
            context.request_id,
            context.client_address or "unknown",
        )
        raise
    return _session_payload(issued)


@mutation.field("logout")
async def resolve_logout(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    await context.send(Logout(meta=context.meta(), refresh_token=input["refresh_token"]))
    return {"logged_out": True}


def _session_payload(issued: IssuedSession) -> dict[str, Any]:
    """A ``LoginPayload``."""
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
        "refresh_token": issued.refresh_token,
        "refresh_expires_at": issued.refresh_expires_at,
    }


@mutation.field("changePassword")
async def resolve_change_password(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    actor = context.require_actor()
    given = input.get("user_id")
    user_id = global_ids.decode_as(given, "User") if given is not None else actor.user_id
    assert user_id is not None  # require_actor: not anonymous
    if user_id == actor.user_id and input.get("current_password") is None:
        # The service refuses it too; this says it in the API's own words.
        raise Invalid("currentPassword is required to change your own password")
    fresh: IssuedSession | None = await request_context(info).send(
        ChangePassword(
            meta=context.meta(),
            actor=actor,
            user_id=user_id,
            new_password=input["new_password"],
            current_password=input.get("current_password"),
        ),
    )
    return {
        "user_id": global_ids.encode("User", user_id),
        "session": _session_payload(fresh) if fresh is not None else None,
    }


@mutation.field("requestPasswordReset")
async def resolve_request_password_reset(
    _: None, info: Info, input: dict[str, Any]
) -> dict[str, Any]:
    context = request_context(info)
    await context.send(RequestPasswordReset(meta=context.meta(), email=input["email"]))
    return {"accepted": True}


@mutation.field("resetPassword")
async def resolve_reset_password(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    await request_context(info).send(
        ResetPassword(
            meta=request_context(info).meta(),
            token=input["token"],
            new_password=input["new_password"],
        ),
    )
    return {"password_changed": True}


@mutation.field("createRole")
async def resolve_create_role(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    code = await request_context(info).send(
        CreateRole(
            meta=context.meta(),
            actor=context.require_actor(),
            code=input["code"],
            name=input["name"],
            policies=policies_from_input(input["policies"]),
            idempotency_key=input.get("idempotency_key"),
        ),
    )
    return {"role_id": global_ids.encode("Role", code)}


@create_role_payload.field("role")
async def resolve_created_role(
    obj: dict[str, Any], info: Info, scope: ReadScope
) -> RoleView | None:
    code = global_ids.decode_as(obj["role_id"], "Role")
    return await request_context(info).loaders.roles(scope).load(code)


_SUBJECTS: Final = {"User": ("user", USERS), "Role": ("role", ROLES)}


def _policy_subject(info: Info, subject_id: str) -> tuple[str, str]:
    """The subject kind and id of a User or Role global id, once the caller may UPDATE it.

    The resource depends on the id's type, which a static directive cannot
    express; the check is the directive's own (:func:`require_write`).
    """
    type_name, id = global_ids.decode(subject_id)
    if type_name not in _SUBJECTS:
        raise Invalid(f"policies attach to a User or a Role, not to a {type_name}")
    subject, resource = _SUBJECTS[type_name]
    require_write(info, resource, Permission.UPDATE, id)
    return subject, id


def _policy_change(command: type[AttachPolicies] | type[DetachPolicies]) -> Resolver:
    """attachPolicies and detachPolicies: the same input, the same payload, another command."""

    async def resolve(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
        context = request_context(info)
        subject, subject_id = _policy_subject(info, input["subject_id"])
        await context.send(
            command(
                meta=context.meta(),
                actor=context.require_actor(),
                subject=subject,  # type: ignore[arg-type]  # checked by _policy_subject
                subject_id=subject_id,
                policies=policies_from_input(input["policies"]),
                idempotency_key=input.get("idempotency_key"),
            ),
        )
        return {"subject_id": input["subject_id"]}

    return resolve


mutation.set_field("attachPolicies", _policy_change(AttachPolicies))
mutation.set_field("detachPolicies", _policy_change(DetachPolicies))


for payload in policies_payloads:

    @payload.field("subject")
    async def resolve_policy_subject(obj: dict[str, Any], info: Info) -> object:
        return await load_node(info, obj["subject_id"])


def _role_membership(command: type[AssignRole] | type[RevokeRole]) -> Resolver:
    """assignRole and revokeRole: the same input, the same payload, another command."""

    async def resolve(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
        context = request_context(info)
        await context.send(
            command(
                meta=context.meta(),
                actor=context.require_actor(),
                user_id=global_ids.decode_as(input["user_id"], "User"),
                role_code=global_ids.decode_as(input["role_id"], "Role"),
                idempotency_key=input.get("idempotency_key"),
            ),
        )
        return {"user_id": input["user_id"]}

    return resolve


mutation.set_field("assignRole", _role_membership(AssignRole))
mutation.set_field("revokeRole", _role_membership(RevokeRole))


@mutation.field("disableUser")
async def resolve_disable_user(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    await context.send(
        DisableUser(
            meta=context.meta(),
            actor=context.require_actor(),
            user_id=global_ids.decode_as(input["user_id"], "User"),
            idempotency_key=input.get("idempotency_key"),
        ),
    )
    return {"user_id": input["user_id"]}


for payload in user_payloads:

    @payload.field("user")
    async def resolve_payload_user(
        obj: dict[str, Any], info: Info, scope: ReadScope
    ) -> UserView | None:
        user_id = global_ids.decode_as(obj["user_id"], "User")
        loader = request_context(info).loaders.users(scope, with_roles=_shows_roles(info))
        return await loader.load(user_id)


BINDABLES: Final = (
    query,
    mutation,
    user,
    role,
    user_status,
    create_role_payload,
    *policies_payloads,
    *user_payloads,
)
