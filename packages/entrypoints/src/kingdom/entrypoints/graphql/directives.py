"""Authorization in the schema: ``@needsPermission`` and ``@authenticated``.

``@needsPermission(resource, action, selector)`` on a field asks the caller's
policy context before the resolver runs:

- without a token the answer is ``UNAUTHENTICATED``;
- a write (``CREATE``/``UPDATE``/``DELETE``) is allowed or ``FORBIDDEN``,
  so a refused mutation never reaches its handler (which checks again);
  when an ``"@own"`` grant could allow it but the instance's owner is only
  known once it is loaded (an account), the handler decides;
- a ``READ`` becomes a :class:`~kingdom.domain.access.ReadScope` handed to
  the resolver as its ``scope`` argument, which the resolver pushes into the
  query port, so lists, totals and lookups all see the same rows.

``selector`` is a dotted path through the field's arguments (GraphQL names,
e.g. ``"input.accountId"``) to the instance concerned. If it leads to an
``ID`` it is a global id, which must name the resource's type; the path is
checked when the schema is built, so a typo fails at start-up, not at the
first request. ``@authenticated`` only requires a token: the field's own
rules (and the service layer) decide the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ariadne import SchemaDirectiveVisitor
from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    default_field_resolver,
    get_named_type,
)

from kingdom.domain.access import Permission, ReadScope, authorize, precheck
from kingdom.domain.shared import Invalid
from kingdom.entrypoints.graphql import global_ids
from kingdom.entrypoints.graphql.context import Info, request_context
from kingdom.entrypoints.graphql.row_resolvers import RowResolver, per_row, preparer_of
from kingdom.services.resources import ACCOUNTS, AUDIT, RESOURCES, ROLES, USERS, owner_from_id

NODE_TYPE_OF_RESOURCE: Final[Mapping[str, str]] = {
    USERS: "User",
    ROLES: "Role",
    ACCOUNTS: "Account",
    AUDIT: "AuditEntry",
}
"""Which Node type a resource's instances are (and so which global ids select them)."""

RESOURCE_OF_NODE_TYPE: Final[Mapping[str, str]] = {
    "User": USERS,
    "Role": ROLES,
    "Account": ACCOUNTS,
    "Transfer": ACCOUNTS,  # a transfer is read through its accounts
    "AuditEntry": AUDIT,
}

Resolver = Callable[..., Any]


def read_scope(info: Info, resource: str, instance: str | None = None) -> ReadScope:
    """What the caller may read of ``resource`` (one ``instance``, or all it may).

    The caller's own instances count through ``"@own"`` grants: by owner in
    the query, or at once for a user (who owns itself).
    """
    context = request_context(info)
    # Once per resource and instance per request, not once per row: a page
    # of 50 accounts asks for its owners' scope 50 times. The caller's
    # grants cannot change within a request (a mutation's new grants come
    # with the next token).
    key = (resource, instance)
    scope = context.scopes.get(key)
    if scope is None:
        actor = context.require_actor()
        owner = None if instance is None else owner_from_id(resource, instance)
        scope = context.scopes[key] = authorize(
            actor.context, resource, Permission.READ, instance, caller=actor.user_id, owner=owner
        )
    return scope


def require_write(
    info: Info, resource: str, action: Permission, instance: str | None = None
) -> None:
    """Raise unless the caller may ``action`` on ``instance`` (or on every instance).

    When the instance's owner is not known before loading it (an account),
    this only refuses what no owner could make allowed (:func:`precheck`);
    the handler, which loads it, decides with the owner.
    """
    actor = request_context(info).require_actor()
    owner = None if instance is None else owner_from_id(resource, instance)
    if owner is None:
        precheck(actor.context, resource, action, instance, caller=actor.user_id)
    else:
        authorize(actor.context, resource, action, instance, caller=actor.user_id, owner=owner)


@dataclass(frozen=True)
class Selector:
    """Where, in a field's arguments, the id of the instance concerned is."""

    path: tuple[str, ...]
    """Python names (ariadne passes arguments under their snake_case names)."""
    node_type: str | None
    """The Node type the id's global id must name; ``None`` for a plain string."""

    @classmethod
    def parse(cls, selector: str, field: GraphQLField, resource: str, where: str) -> Selector:
        steps = selector.split(".")
        argument = field.args.get(steps[0])
        if argument is None:
            raise ValueError(f"{where}: selector {selector!r}: no argument {steps[0]!r}")
        path = [argument.out_name or steps[0]]
        current = get_named_type(argument.type)
        for step in steps[1:]:
            if not isinstance(current, GraphQLInputObjectType) or step not in current.fields:
                raise ValueError(f"{where}: selector {selector!r}: no input field {step!r}")
            input_field = current.fields[step]
            path.append(input_field.out_name or step)
            current = get_named_type(input_field.type)
        if current.name == "ID":
            node_type = NODE_TYPE_OF_RESOURCE.get(resource)
            if node_type is None:
                raise ValueError(f"{where}: {resource!r} instances have no global ids")
            return cls(tuple(path), node_type)
        if current.name == "String":
            return cls(tuple(path), None)
        raise ValueError(f"{where}: selector {selector!r} must lead to an ID or a String")

    def instance(self, arguments: Mapping[str, Any]) -> str | None:
        """The selected id in these arguments, or ``None`` if the path is not filled in."""
        value: Any = arguments
        for step in self.path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(step)
        if value is None:
            return None
        if self.node_type is None:
            if not isinstance(value, str):
                raise Invalid("not a valid id")
            return value
        return global_ids.decode_as(value, self.node_type)


class NeedsPermissionDirective(SchemaDirectiveVisitor):
    def visit_field_definition(
        self,
        field: GraphQLField,
        object_type: GraphQLObjectType | GraphQLInterfaceType,
    ) -> GraphQLField:
        where = f"@needsPermission on {object_type.name}.{self._field_name(field, object_type)}"
        resource = _resource(self.args["resource"])
        action = _permission(self.args["action"])
        raw_selector: str | None = self.args.get("selector")
        selector = (
            None if raw_selector is None else Selector.parse(raw_selector, field, resource, where)
        )
        resolve: Resolver = field.resolve or default_field_resolver

        if action is Permission.READ:
            if any((argument.out_name or name) == "scope" for name, argument in field.args.items()):
                raise ValueError(f"{where}: 'scope' is the resolver argument READ adds")

            inner = preparer_of(resolve)

            # Per row resolvers (:mod:`.row_resolvers`): the scope is computed
            # once per field per request, not once per row.
            def prepare_read(info: Info, **arguments: Any) -> RowResolver:
                instance = None if selector is None else selector.instance(arguments)
                scope = read_scope(info, resource, instance)
                if inner is not None:
                    return inner(info, scope=scope, **arguments)
                return lambda obj: resolve(obj, info, scope=scope, **arguments)

            field.resolve = per_row(prepare_read)
        else:

            def resolve_write(obj: Any, info: Info, **arguments: Any) -> Any:
                instance = None if selector is None else selector.instance(arguments)
                require_write(info, resource, action, instance)
                return resolve(obj, info, **arguments)

            field.resolve = resolve_write
        return field

    @staticmethod
    def _field_name(
        field: GraphQLField, object_type: GraphQLObjectType | GraphQLInterfaceType
    ) -> str:
        return next((name for name, f in object_type.fields.items() if f is field), "?")


class AuthenticatedDirective(SchemaDirectiveVisitor):
    def visit_field_definition(
        self,
        field: GraphQLField,
        object_type: GraphQLObjectType | GraphQLInterfaceType,
    ) -> GraphQLField:
        resolve: Resolver = field.resolve or default_field_resolver

        def resolve_authenticated(obj: Any, info: Info, **arguments: Any) -> Any:
            request_context(info).require_actor()
            return resolve(obj, info, **arguments)

        field.resolve = resolve_authenticated
        return field


# Any: ariadne types the values as its (abstract) visitor base class.
DIRECTIVES: Final[dict[str, Any]] = {
    "needsPermission": NeedsPermissionDirective,
    "authenticated": AuthenticatedDirective,
}


def _resource(value: object) -> str:
    """The directive's ``resource`` argument (the enum's Python value, or its name)."""
    for resource in RESOURCES:
        if value in (resource, resource.upper()):
            return resource
    raise ValueError(f"unknown resource {value!r}")


def _permission(value: object) -> Permission:
    """The directive's ``action`` argument (the enum's Python value, or its name)."""
    if isinstance(value, Permission):
        return value
    if isinstance(value, str) and value in ("READ", "CREATE", "UPDATE", "DELETE"):
        return Permission[value]
    raise ValueError(f"unknown action {value!r}")
