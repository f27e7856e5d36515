"""What a query costs, estimated before it runs (ariadne's cost validator, with a cost map).

The unit is one resolved object: every field returning an object, interface
or list of them costs 1 (scalars and enums are attribute reads and cost 0),
times the number of items each list above it, and the field itself, may
return:

- a connection (``first``/``last`` arguments) returns ``first`` or ``last``
  items, at most :data:`~kingdom.services.ports.MAX_PAGE_SIZE`, by default
  :data:`~kingdom.entrypoints.graphql.pagination.DEFAULT_PAGE_SIZE`; its
  ``edges`` are those same items and multiply nothing more;
- ``nodes(ids:)`` returns one item per id, at most :data:`.nodes.MAX_NODES`;
- any other list of objects (a user's roles, a role's policies) is
  estimated at :data:`UNPAGED_LIST_SIZE` items.

So ``accounts(first: 50) { edges { node { owner { email } } } }`` costs
``50 + 50 + 50 + 50 = 200``, and ``accounts(first: 100) { edges { node {
transfers(first: 100) { edges { node { id } } } } } }`` costs
``3 * 100 + 3 * 100 * 100 = 30300``. The map is derived from the schema at
start-up, so a new field is priced by the same rules without annotation.
Introspection types are not priced: introspection is refused in production
and bounded by the depth limit elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ariadne.validation.query_cost import CostValidator
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    OperationDefinitionNode,
    TypeInfo,
    ValidationContext,
    get_named_type,
    is_composite_type,
)

from kingdom.entrypoints.graphql.errors import QUERY_TOO_COMPLEX
from kingdom.entrypoints.graphql.nodes import MAX_NODES
from kingdom.entrypoints.graphql.pagination import DEFAULT_PAGE_SIZE
from kingdom.services.ports import MAX_PAGE_SIZE

UNPAGED_LIST_SIZE: Final = 5
"""Items assumed in a list without paging arguments (roles, policies: a handful)."""
MAX_REPORTED_COST: Final = 2**53 - 1
"""The largest cost an error names: fragment chains can price past any JSON number."""


@dataclass(frozen=True)
class FieldCost:
    """How one field is priced: ``complexity`` per item, for ``size`` items."""

    complexity: int = 1
    size_arguments: tuple[str, ...] = ()
    """Arguments giving the item count (an integer, or a list whose length counts)."""
    default_size: int = 1
    """Items when no size argument is given (or it is not a usable number)."""
    max_size: int = 1
    """No resolver returns more items than this, whatever the arguments say."""

    def size(self, arguments: Mapping[str, Any]) -> int:
        for name in self.size_arguments:
            value = arguments.get(name)
            if isinstance(value, list | tuple):
                value = len(value)
            if isinstance(value, int) and not isinstance(value, bool):
                # Out-of-range sizes are refused by the resolver (BAD_USER_INPUT);
                # here they count as the most it could return.
                return max(1, min(value, self.max_size))
        return self.default_size


CostMap = dict[str, dict[str, FieldCost]]
"""Object type name -> field name -> price; fields not listed cost nothing."""


def cost_map(schema: GraphQLSchema) -> CostMap:
    """The price of every field of ``schema`` that resolves objects (see the module docs)."""
    connections = {
        get_named_type(field.type).name
        for type_ in _object_types(schema)
        for field in type_.fields.values()
        if _is_paged(field.args)
    }
    prices: CostMap = {}
    for type_ in _object_types(schema):
        fields: dict[str, FieldCost] = {}
        for name, field in type_.fields.items():
            if not is_composite_type(get_named_type(field.type)):
                continue
            if _is_paged(field.args):
                fields[name] = FieldCost(
                    size_arguments=("first", "last"),
                    default_size=DEFAULT_PAGE_SIZE,
                    max_size=MAX_PAGE_SIZE,
                )
            elif not _is_list(field.type) or type_.name in connections:
                fields[name] = FieldCost()  # one object (or a connection's edges)
            else:
                list_arguments = tuple(
                    argument for argument, spec in field.args.items() if _is_list(spec.type)
                )
                fields[name] = (
                    FieldCost(size_arguments=list_arguments, default_size=1, max_size=MAX_NODES)
                    if list_arguments
                    else FieldCost(default_size=UNPAGED_LIST_SIZE, max_size=UNPAGED_LIST_SIZE)
                )
        if fields:
            prices[type_.name] = fields
    return prices


def _object_types(schema: GraphQLSchema) -> list[GraphQLObjectType]:
    return [
        type_
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLObjectType) and not name.startswith("__")
    ]


def _is_paged(arguments: Mapping[str, Any]) -> bool:
    return "first" in arguments or "last" in arguments


def _is_list(type_: GraphQLType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class CostLimit(CostValidator):
    """ariadne's cost validator, priced by a :data:`CostMap` and quiet about arguments.

    ariadne reads each field's arguments to find its multipliers and reports
    any argument it cannot read (a required variable without a value, say).
    Those mistakes are the executor's to report, with its own code
    (``BAD_USER_INPUT``); here they only mean "size unknown", so the rule
    reports nothing but the cost. Subclass it with :func:`cost_limit`.
    """

    prices: ClassVar[CostMap] = {}
    limit: ClassVar[int] = 0

    def __init__(self, context: ValidationContext, variables: dict[str, Any] | None = None) -> None:
        super().__init__(
            context,
            maximum_cost=self.limit,
            default_cost=0,
            variables=variables,
            cost_map=self.prices,  # FieldCost values, read by get_args_from_cost_map
        )
        self._report = context.report_error
        # ariadne reports unreadable arguments through ``self.context``.
        self.context = _ArgumentErrorsIgnored(context)  # type: ignore[assignment]
        self._measuring: set[str] = set()

    def enter_operation_definition(self, node: Any, *_: Any) -> None:
        # ariadne would check the cost map against the schema on every
        # operation; cost_map() derived it from the schema, once.
        root = self.context.schema.get_root_type(node.operation)
        if root is not None:
            self.cost += self.compute_node_cost(node, root)

    def leave_operation_definition(self, node: Any, *_: Any) -> None:
        if self.cost > self.maximum_cost:
            # Integers beyond 2**53 are not numbers to JavaScript, and beyond
            # 2**64 not even JSON to orjson; past that, "at least" is enough.
            cost = min(self.cost, MAX_REPORTED_COST)
            at_least = "" if cost == self.cost else "at least "
            self._report(
                GraphQLError(
                    f"The query costs {at_least}{cost}, over the limit of {self.maximum_cost}:"
                    " ask for fewer items (first/last) or fewer nested lists.",
                    node,
                    extensions={
                        "code": QUERY_TOO_COMPLEX,
                        "limit": self.maximum_cost,
                        "cost": cost,
                    },
                )
            )

    def get_fragment_cost_coefficients(
        self, fragment: FragmentDefinitionNode, fragment_type: GraphQLNamedType | None
    ) -> tuple[int, int]:
        # ariadne follows spreads without a guard: a fragment cycle (which
        # NoFragmentCyclesRule refuses anyway) would recurse until Python's
        # limit. Inside a cycle, the fragment already being measured costs 0.
        name = fragment.name.value
        if name in self._measuring:
            return 0, 0
        self._measuring.add(name)
        try:
            coefficients: tuple[int, int] = super().get_fragment_cost_coefficients(
                fragment, fragment_type
            )
            return coefficients
        finally:
            self._measuring.discard(name)

    def get_args_from_cost_map(
        self, node: Any, parent_type: str, field_args: dict[str, Any]
    ) -> dict[str, Any] | None:
        price = self.prices.get(parent_type, {}).get(node.name.value)
        if price is None:
            return None
        size = price.size(field_args)
        return {"complexity": price.complexity, "multipliers": [size] if size > 1 else []}


class _ArgumentErrorsIgnored:
    """The validation context, minus ``report_error`` (see :class:`CostLimit`)."""

    def __init__(self, context: ValidationContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def report_error(self, error: GraphQLError) -> None:
        pass


def cost_errors(
    rule: type[CostLimit],
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    document: DocumentNode,
    variables: dict[str, Any] | None,
) -> list[GraphQLError]:
    """Run just ``rule`` over one ``operation`` of ``document`` with its ``variables``.

    The same result as ``validate(schema, document, [rule])`` for a document
    holding only that operation, without the full validation walk. The
    variables are those the execution will use (defaults applied), so a
    ``$n: Int = 100`` costs 100 whether or not the request names ``n``.
    """
    errors: list[GraphQLError] = []
    context = ValidationContext(schema, document, TypeInfo(schema), errors.append)
    measure = rule(context, variables)
    measure.enter_operation_definition(operation)
    measure.leave_operation_definition(operation)
    return errors


def cost_limit(schema: GraphQLSchema, limit: int) -> type[CostLimit]:
    """The cost rule for ``schema`` and ``limit``; instantiate with the request's variables."""
    return type("SchemaCostLimit", (CostLimit,), {"prices": cost_map(schema), "limit": limit})
