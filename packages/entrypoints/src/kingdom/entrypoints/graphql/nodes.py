"""What every context shares: ``Node`` lookups, policies, the ``Action`` and ``Resource`` enums."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from ariadne import EnumType, InterfaceType, ObjectType, QueryType

from kingdom.domain.access import ALL_INSTANCES, OWN_INSTANCES, Permission, Policy
from kingdom.domain.shared import Invalid
from kingdom.entrypoints.graphql import global_ids
from kingdom.entrypoints.graphql.context import Info, request_context
from kingdom.entrypoints.graphql.directives import (
    NODE_TYPE_OF_RESOURCE,
    RESOURCE_OF_NODE_TYPE,
    read_scope,
)
from kingdom.entrypoints.graphql.loaders import DataLoader
from kingdom.services.ports import AccountView, RoleView, TransferView, UserView
from kingdom.services.ports.audit import AuditEntry
from kingdom.services.resources import RESOURCES

MAX_NODES: Final = 100

ACTIONS: Final = (Permission.READ, Permission.CREATE, Permission.UPDATE, Permission.DELETE)

query = QueryType()
node = InterfaceType("Node")
policy = ObjectType("Policy")
action = EnumType("Action", {flag.name: flag for flag in ACTIONS if flag.name})
# Built from the services' list: the schema's enum must name exactly these
# (tests/unit/entrypoints holds it to them), and its values are the policies' strings.
resource_enum = EnumType("Resource", {resource.upper(): resource for resource in RESOURCES})


@node.type_resolver
def resolve_node_type(obj: object, *_: Any) -> str:
    if isinstance(obj, UserView):
        return "User"
    if isinstance(obj, RoleView):
        return "Role"
    if isinstance(obj, AccountView):
        return "Account"
    if isinstance(obj, TransferView):
        return "Transfer"
    if isinstance(obj, AuditEntry):
        return "AuditEntry"
    raise TypeError(f"{type(obj).__name__} is not a Node")


@query.field("node")
async def resolve_node(_: None, info: Info, id: str) -> object | None:
    return await load_node(info, id)


@query.field("nodes")
async def resolve_nodes(_: None, info: Info, ids: Sequence[str]) -> list[object]:
    if len(ids) > MAX_NODES:
        raise Invalid(f"'nodes' takes at most {MAX_NODES} ids")
    decoded = [global_ids.decode(global_id) for global_id in ids]  # all valid, or nothing
    # Gathered, so each type's loader fetches all its ids in one query.
    return list(
        await asyncio.gather(*(_loader(info, type_name).load(id) for type_name, id in decoded))
    )


async def load_node(info: Info, global_id: str) -> object | None:
    """The object ``global_id`` names, if the caller may read it (else ``None``)."""
    type_name, id = global_ids.decode(global_id)
    return await _loader(info, type_name).load(id)


def _loader(info: Info, type_name: str) -> DataLoader[Any]:
    """The loader for ``type_name`` under the caller's scope on its resource.

    The same scope the typed fields get from ``@needsPermission``: ``node``
    can reveal nothing that ``accounts`` or ``users`` would not.
    """
    loaders = request_context(info).loaders
    scope = read_scope(info, RESOURCE_OF_NODE_TYPE[type_name])
    if type_name == "User":
        return loaders.users(scope)
    if type_name == "Role":
        return loaders.roles(scope)
    if type_name == "Account":
        return loaders.accounts(scope)
    if type_name == "AuditEntry":
        return loaders.audit_entries(scope)
    return loaders.transfers(scope)


@policy.field("actions")
def resolve_policy_actions(obj: Policy, *_: Any) -> list[Permission]:
    return [flag for flag in ACTIONS if flag in obj.permissions]


@policy.field("selectors")
def resolve_policy_selectors(obj: Policy, *_: Any) -> list[str]:
    return sorted(obj.selectors)


def policies_from_input(items: Sequence[dict[str, Any]]) -> tuple[Policy, ...]:
    """``[PolicyInput!]`` as domain policies (``Invalid`` for a bad selector...)."""
    result = []
    for item in items:
        granted = Permission.NONE
        for flag in item["actions"]:
            granted |= flag
        resource: str = item["resource"]
        selectors = item.get("selectors")
        result.append(
            Policy(
                resource,
                granted,
                frozenset(
                    policy_selector(resource, selector)
                    for selector in (selectors if selectors is not None else (ALL_INSTANCES,))
                ),
            )
        )
    return tuple(result)


def policy_selector(resource: str, selector: str) -> str:
    """A selector as policies store it: ``"*"`` and ``"@own"`` as they are, ids raw.

    Clients hold global ids, so a selector that is one is decoded to the raw
    id it names, which must be of ``resource``'s type (an Account's for
    accounts): the id of anything else would silently grant nothing, so it
    is refused. Anything else is taken as a raw id, as before global ids were
    accepted (no raw id Kingdom makes is also a well-formed global id).
    """
    if selector in (ALL_INSTANCES, OWN_INSTANCES):
        return selector
    try:
        type_name, id = global_ids.decode(selector)
    except Invalid:
        return selector
    expected = NODE_TYPE_OF_RESOURCE[resource]
    if type_name != expected:
        raise Invalid(
            f"selector {selector!r} is the id of a {type_name}; "
            f"policies on {resource} select {expected} ids"
        )
    return id


BINDABLES: Final = (query, node, policy, action, resource_enum)
