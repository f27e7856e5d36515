"""The audit trail over GraphQL: ``auditLog`` and the ``AuditEntry`` node.

Reading the trail needs READ on the ``audit`` resource. Unlike the other
listings, a caller who may read no entry at all is refused (``FORBIDDEN``)
instead of shown an empty page: an empty trail would read as "nothing
happened", which is a claim, not a neutral answer. ``node(id:)`` on an entry
behaves like every other node (``null`` when out of scope).
"""

from __future__ import annotations

import re
from typing import Any, Final

from ariadne import ObjectType, QueryType

from kingdom.domain.access import AccessDenied, Permission, ReadScope
from kingdom.entrypoints.graphql import global_ids
from kingdom.entrypoints.graphql.audit_filter import NODE_TYPE_OF_SUBJECT, audit_filter
from kingdom.entrypoints.graphql.context import Info, request_context
from kingdom.entrypoints.graphql.pagination import connection, page_request
from kingdom.entrypoints.graphql.selection import USER_ROLE_FIELDS, as_selected, selects
from kingdom.services.ports import UserView
from kingdom.services.ports.audit import AuditEntry
from kingdom.services.resources import AUDIT

query = QueryType()
entry = ObjectType("AuditEntry")

# W3C Trace Context: version-traceid-parentid-flags, lowercase hex; versions
# after 00 may append fields, which a reader of version 00 ignores.
_TRACE_PARENT: Final = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?")


def trace_id(trace_parent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent``, or ``None`` if it is not a valid one."""
    match = _TRACE_PARENT.fullmatch(trace_parent or "")
    if match is None:
        return None
    version, trace, parent, more = match.groups()
    if version == "ff" or (version == "00" and more is not None):
        return None
    if trace == "0" * 32 or parent == "0" * 16:  # all zeros: invalid by the spec
        return None
    return trace


def subject_id(entry: AuditEntry) -> str:
    """The subject's global id when its kind is a Node type, else its raw id."""
    node_type = NODE_TYPE_OF_SUBJECT.get(entry.subject_type)
    return entry.subject_id if node_type is None else global_ids.encode(node_type, entry.subject_id)


# Objects


@entry.field("id")
def resolve_entry_id(obj: AuditEntry, *_: Any) -> str:
    return global_ids.encode("AuditEntry", obj.message_id)


@entry.field("actor")
async def resolve_entry_actor(obj: AuditEntry, info: Info, scope: ReadScope) -> UserView | None:
    if obj.actor_id is None:
        return None
    loader = request_context(info).loaders.users(scope, with_roles=selects(info, USER_ROLE_FIELDS))
    return await loader.load(obj.actor_id)


@entry.field("actorId")
def resolve_entry_actor_id(obj: AuditEntry, *_: Any) -> str | None:
    return None if obj.actor_id is None else global_ids.encode("User", obj.actor_id)


@entry.field("subjectId")
def resolve_entry_subject_id(obj: AuditEntry, *_: Any) -> str:
    return subject_id(obj)


@entry.field("traceId")
def resolve_entry_trace_id(obj: AuditEntry, *_: Any) -> str | None:
    return trace_id(obj.trace_parent)


# Queries


@query.field("auditLog")
async def resolve_audit_log(
    _: None, info: Info, scope: ReadScope, filter: dict[str, Any] | None = None, **arguments: Any
) -> dict[str, Any]:
    # Entries belong to nobody: an "@own" grant alone reads none of them.
    if not scope.all and not scope.ids:
        raise AccessDenied(AUDIT, Permission.READ)
    request = as_selected(info, page_request(**arguments))
    wanted = audit_filter(filter)
    return connection(await request_context(info).services.audit.list(scope, request, wanted))


BINDABLES: Final = (query, entry)
