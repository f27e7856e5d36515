"""Compiled execution plans: a validated query run without graphql-core's per-field machinery.

graphql-core's executor is general: for every field of every row it collects
sub-selections, builds a resolve-info and a path, wraps the result in its
completion logic and checks for awaitables at each step. A 50-row page with
owners costs ~2 ms of that alone, more than the whole budget of a request.
A document, though, is cached (:mod:`.documents`), so the work that depends
only on it can be done once: this module turns an operation into a
:class:`Plan` — for each selection set, the fields to resolve in response
order, each with its resolver, its arguments when they are constant and a
completion function chosen for its type — and a request then only walks the
data.

The plan gives the *same answer* graphql-core would, or none: it runs
queries only, without ``@skip``/``@include`` or other directives in the
operation, introspection (``__schema``, ``__type``) or fragment arguments;
and as soon as anything goes off the successful path — a resolver raises, a
non-null field is null, a leaf does not serialize, a type cannot be
resolved — it gives up with :class:`Unplannable`, and the caller runs the
operation again with graphql-core, which reports the error with its path
and nulls exactly as the spec says. Queries have no side effects, so
running one twice on an error costs time, never correctness.

Awaitable results (root fields, DataLoader lookups) are collected level by
level and awaited together, so every loader still batches the keys of a
whole level into one query. Building a plan visits each fragment once per
selection set it is spread into, as graphql-core does for every object it
completes: a plan is the shape of one answer with one row per list, so it is
bounded by what the query limits already bound (depth, selections, cost),
and it is built once per cached document, not per request or row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from inspect import isawaitable, iscoroutine
from types import GeneratorType
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    default_field_resolver,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import ListValueNode, ObjectValueNode, ValueNode
from graphql.pyutils import Path

from kingdom.entrypoints.graphql.row_resolvers import Prepare, RowResolver, preparer_of

TYPENAME: Final = "__typename"
_INTROSPECTION: Final = frozenset({"__schema", "__type"})
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1


_AWAITABLE_TYPES: dict[type, bool] = {}
_MAPPING_TYPES: dict[type, bool] = {}


def _is_awaitable(value: Any) -> bool:
    """:func:`inspect.isawaitable`, remembered per type: called for every field of every row."""
    kind = type(value)
    known = _AWAITABLE_TYPES.get(kind)
    if known is None:
        known = isawaitable(value)
        # Only types whose instances all agree (a generator's flags vary per object).
        if kind is not GeneratorType:
            _AWAITABLE_TYPES[kind] = known
    return known


class Unplannable(Exception):
    """This operation, or this run of it, is graphql-core's to execute."""


Complete = Callable[[Any, "Run"], Any]
"""Turns a resolved value into its part of the response (may leave work pending)."""


@dataclass(eq=False)
class PlannedField:
    """One response key of a selection set: how to resolve and complete it."""

    key: str
    name: str
    definition: GraphQLField | None
    """``None`` for ``__typename``."""
    nodes: list[FieldNode]
    parent: GraphQLObjectType
    arguments: dict[str, Any] | None
    """Constant arguments, or ``None`` when they depend on the request's variables."""
    resolve: Callable[..., Any] | None = None
    """The field's resolver; ``None``: graphql-core's default (attribute or key)."""
    prepare: Prepare | None = None
    """The resolver's per-request half (:mod:`.row_resolvers`), if it has one."""
    complete: Complete = field(default=lambda value, run: value)


_TYPENAME_STEP: Final = 0
_PREPARED_STEP: Final = 1
_DEFAULT_STEP: Final = 2
_RESOLVER_STEP: Final = 3

Step = tuple[str, int, PlannedField, Complete, type | None]
"""What :meth:`Run.object` does for one field: (response key, how to resolve it, the field,
its completion, the result type its completion would give back unchanged: ``str`` for a
String or ID, else ``None``). Plain tuples: unpacked for every field of every row."""


@dataclass(eq=False)
class SelectionPlan:
    """The fields of one selection set on one concrete object type, in response order."""

    type_name: str
    fields: list[PlannedField]
    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        self.steps = tuple(_step(planned) for planned in self.fields)


def _step(planned: PlannedField) -> Step:
    if planned.definition is None:
        return (planned.key, _TYPENAME_STEP, planned, planned.complete, None)
    if planned.prepare is not None:
        how = _PREPARED_STEP
    elif planned.resolve is None:
        how = _DEFAULT_STEP
    else:
        how = _RESOLVER_STEP
    named = planned.definition.type
    if is_non_null_type(named):
        named = named.of_type
    unchanged = str if named is GraphQLString or named is GraphQLID else None
    return (planned.key, how, planned, planned.complete, unchanged)


class Planner:
    """Builds plans for one schema and one document (each selection set once, then cached)."""

    def __init__(
        self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]
    ) -> None:
        self.schema = schema
        self.fragments = fragments

    def selection(
        self, object_type: GraphQLObjectType, field_nodes: Iterable[FieldNode]
    ) -> SelectionPlan:
        """The plan of the sub-selections of ``field_nodes`` (one field's nodes) on ``object_type``."""
        grouped: dict[str, list[FieldNode]] = {}
        for node in field_nodes:
            if node.selection_set is not None:
                self._collect(object_type, node.selection_set, grouped, set())
        return self._plan(object_type, grouped)

    def root(
        self, object_type: GraphQLObjectType, selection_set: SelectionSetNode
    ) -> SelectionPlan:
        grouped: dict[str, list[FieldNode]] = {}
        self._collect(object_type, selection_set, grouped, set())
        return self._plan(object_type, grouped)

    def _collect(
        self,
        object_type: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        spread: set[str],
    ) -> None:
        """graphql-core's field collection, without directives: response keys in order."""
        for selection in selection_set.selections:
            if selection.directives:
                raise Unplannable("directives in the operation")
            if isinstance(selection, FieldNode):
                if selection.name.value in _INTROSPECTION:
                    raise Unplannable("introspection")
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, object_type):
                    self._collect(object_type, selection.selection_set, grouped, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if getattr(selection, "arguments", None):
                    raise Unplannable("fragment arguments")
                if name in spread:
                    continue
                spread.add(name)
                fragment = self.fragments.get(name)
                if fragment is None:
                    raise Unplannable(f"unknown fragment {name}")
                if self._applies(fragment.type_condition, object_type):
                    self._collect(object_type, fragment.selection_set, grouped, spread)

    def _applies(self, condition: Any, object_type: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        conditional = self.schema.get_type(condition.name.value)
        if conditional is object_type:
            return True
        if isinstance(conditional, GraphQLAbstractType):
            return self.schema.is_sub_type(conditional, object_type)
        return False

    def _plan(
        self, object_type: GraphQLObjectType, grouped: dict[str, list[FieldNode]]
    ) -> SelectionPlan:
        fields = []
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            if name == TYPENAME:  # completed by Run.object itself
                fields.append(PlannedField(key, name, None, nodes, object_type, {}))
                continue
            definition = object_type.fields.get(name)
            if definition is None:
                raise Unplannable(f"no field {object_type.name}.{name}")
            planned = PlannedField(
                key,
                name,
                definition,
                nodes,
                object_type,
                _constant_arguments(definition, nodes[0]),
                resolve=(
                    None
                    if definition.resolve in (None, default_field_resolver)
                    else definition.resolve
                ),
                prepare=preparer_of(definition.resolve),
            )
            planned.complete = self._completion(definition.type, nodes)
            fields.append(planned)
        return SelectionPlan(object_type.name, fields)

    def _completion(
        self, type_: GraphQLOutputType, nodes: list[FieldNode], *, non_null: bool = False
    ) -> Complete:
        """How to complete a value of ``type_``; ``non_null``: a null gives up (a non-null type).

        The non-null check is folded into the inner completion rather than
        wrapped around it: it runs for nearly every field of every row.
        """
        if is_non_null_type(type_):
            return self._completion(type_.of_type, nodes, non_null=True)
        if is_list_type(type_):
            item = self._completion(type_.of_type, nodes)

            def list_of(value: Any, run: Run) -> Any:
                if value is None:
                    return _null(non_null)
                if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
                    raise Unplannable("a list field returned no list")
                return [item(element, run) for element in value]

            return list_of
        if is_leaf_type(type_):
            serialize = type_.serialize
            # What graphql-core's String and ID serializers give a str back unchanged.
            text = type_ is GraphQLString or type_ is GraphQLID
            integer = type_ is GraphQLInt

            def leaf(value: Any, run: Run) -> Any:
                if value is None:
                    return _null(non_null)
                # Exactly str and int (a subclass, bool included, may serialize otherwise).
                kind = type(value)
                if text and kind is str:
                    return value
                if integer and kind is int and _INT_MIN <= value <= _INT_MAX:
                    return value
                serialized = serialize(value)
                if serialized is None:
                    raise Unplannable("a leaf did not serialize")
                return serialized

            return leaf
        if is_object_type(type_):
            return _ObjectCompletion(self, type_, nodes, non_null)
        if is_abstract_type(type_):
            return _AbstractCompletion(self, type_, nodes, non_null)
        raise Unplannable(f"unknown output type {type_}")


def _null(non_null: bool) -> None:
    if non_null:
        raise Unplannable("null in a non-null field")
    return None


class _ObjectCompletion:
    """Completes an object of one type with its sub-plan (built with the plan: what cannot
    be planned is found before anything runs)."""

    def __init__(
        self,
        planner: Planner,
        object_type: GraphQLObjectType,
        nodes: list[FieldNode],
        non_null: bool,
    ) -> None:
        self._plan = planner.selection(object_type, nodes)
        self._non_null = non_null

    def __call__(self, value: Any, run: Run) -> Any:
        if value is None:
            return _null(self._non_null)
        return run.object(self._plan, value)


class _AbstractCompletion:
    """Completes an interface or union value: resolves its type, then one sub-plan per type."""

    def __init__(
        self,
        planner: Planner,
        abstract: GraphQLAbstractType,
        nodes: list[FieldNode],
        non_null: bool,
    ) -> None:
        self._planner = planner
        self._abstract = abstract
        self._nodes = nodes
        self._non_null = non_null
        self._plans: dict[str, SelectionPlan] = {}

    def __call__(self, value: Any, run: Run) -> Any:
        if value is None:
            return _null(self._non_null)
        resolve_type = self._abstract.resolve_type
        if resolve_type is None:
            raise Unplannable("no type resolver")
        name = resolve_type(value, run.info_for_type(self._abstract, self._nodes), self._abstract)
        if not isinstance(name, str):
            raise Unplannable("the type resolver did not name a type")
        plan = self._plans.get(name)
        if plan is None:
            runtime = self._planner.schema.get_type(name)
            if not isinstance(runtime, GraphQLObjectType) or not self._planner.schema.is_sub_type(
                self._abstract, runtime
            ):
                raise Unplannable(f"{name} is not a possible type")
            plan = self._plans[name] = self._planner.selection(runtime, self._nodes)
        return run.object(plan, value)


def _constant_arguments(definition: GraphQLField, node: FieldNode) -> dict[str, Any] | None:
    """The field's arguments if no variable occurs in them (then they are the same every time)."""
    if any(_uses_variables(argument.value) for argument in node.arguments or ()):
        return None
    try:
        return get_argument_values(definition, node)
    except Exception as error:  # an invalid literal: graphql-core words the error
        raise Unplannable("arguments do not coerce") from error


def _uses_variables(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_uses_variables(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_uses_variables(item.value) for item in value.fields)
    return False


@dataclass(frozen=True)
class Plan:
    """One query operation of a cached document, ready to run for any request."""

    operation: OperationDefinitionNode
    planner: Planner
    root: SelectionPlan
    root_type: GraphQLObjectType

    @classmethod
    def build(
        cls, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
    ) -> Plan:
        """The plan of the operation a request names, or :class:`Unplannable`."""
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None:
            if len(operations) != 1:
                raise Unplannable("which operation?")
            operation = operations[0]
        else:
            found = [op for op in operations if op.name and op.name.value == operation_name]
            if len(found) != 1:
                raise Unplannable("no such operation")
            operation = found[0]
        if operation.operation is not OperationType.QUERY:
            raise Unplannable("only queries are planned")
        if operation.directives:
            raise Unplannable("directives on the operation")
        root_type = schema.query_type
        if root_type is None:
            raise Unplannable("no query type")
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        planner = Planner(schema, fragments)
        return cls(operation, planner, planner.root(root_type, operation.selection_set), root_type)

    async def run(
        self,
        context: Any,
        variables: Mapping[str, Any] | None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """The operation's ``data`` for this request, or :class:`Unplannable`.

        ``deadline`` (the loop's clock) bounds the waiting: past it,
        ``TimeoutError``. What runs synchronously cannot be interrupted anyway,
        so no timer is set unless something is awaited.
        """
        schema = self.planner.schema
        coerced = get_variable_values(
            schema, self.operation.variable_definitions or (), dict(variables or {})
        )
        if isinstance(coerced, list):
            raise Unplannable("variables do not coerce")
        run = Run(self, context, coerced)
        with _giving_up(run):
            data = run.object(self.root, None)
        if run.pending:
            async with asyncio.timeout_at(deadline):
                with _giving_up(run):
                    await _settle(run)
        return data


@contextmanager
def _giving_up(run: Run) -> Iterator[None]:
    """Any failure gives the run up: graphql-core will report it properly."""
    try:
        yield
    except Unplannable:
        run.abandon()
        raise
    except Exception as error:  # a resolver's
        run.abandon()
        raise Unplannable("a resolver failed") from error
    except BaseException:  # cancelled (the deadline): nothing to report
        run.abandon()
        raise


async def _settle(run: Run) -> None:
    """Await what the run left pending, level by level, completing as results come."""
    while run.pending:
        pending, run.pending = run.pending, []
        values: list[Any]
        if len(pending) == 1:
            # One root field, say: awaited in place, without a task to run it.
            try:
                values = [await pending[0][2]]
            except Exception as error:
                values = [error]
        else:
            # Together: the loaders asked in this level batch their keys.
            values = await asyncio.gather(
                *(awaitable for _, _, awaitable, _ in pending), return_exceptions=True
            )
        for (target, key, _, planned), value in zip(pending, values, strict=True):
            if isinstance(value, BaseException):
                raise Unplannable("a resolver failed") from value
            target[key] = planned.complete(value, run)


Pending = tuple[dict[str, Any], str, Any, PlannedField]
"""An awaitable result still to complete: (object, key, awaitable, field)."""


class Run:
    """One request's walk through a plan."""

    def __init__(self, plan: Plan, context: Any, variables: Any) -> None:
        self._plan = plan
        self._context = context
        self._variables = variables
        self._infos: dict[int, GraphQLResolveInfo[Any]] = {}
        self._arguments: dict[int, dict[str, Any]] = {}
        self._rows: dict[PlannedField, RowResolver] = {}
        self._calls: dict[PlannedField, tuple[GraphQLResolveInfo[Any], dict[str, Any]]] = {}
        """A resolver's info and arguments, the same for every row."""
        self.pending: list[Pending] = []
        """Awaitable results still to complete: (object, key, awaitable, field)."""

    def object(self, plan: SelectionPlan, value: Any) -> dict[str, Any]:
        """``value`` as an object of ``plan``'s type; awaitable fields are left pending."""
        out: dict[str, Any] = {}
        mapping: bool | None = None
        rows, calls = self._rows, self._calls
        for key, how, planned, complete, unchanged in plan.steps:
            if how == _PREPARED_STEP:
                row = rows.get(planned)
                if row is None:
                    row = rows[planned] = self._prepared(planned)
                result = row(value)
            elif how == _DEFAULT_STEP:
                # graphql-core's default resolver, inlined: it runs for most fields.
                if mapping is None:
                    kind = type(value)
                    mapping = kind is dict or _MAPPING_TYPES.get(kind)
                    if mapping is None:
                        mapping = _MAPPING_TYPES[kind] = isinstance(value, Mapping)
                result = value.get(planned.name) if mapping else getattr(value, planned.name, None)
                if callable(result):
                    result = result(self._info(planned), **self._arguments_for(planned))
            elif how == _TYPENAME_STEP:
                out[key] = plan.type_name
                continue
            else:
                call = calls.get(planned)
                if call is None:
                    call = calls[planned] = (self._info(planned), self._arguments_for(planned))
                result = planned.resolve(value, call[0], **call[1])  # type: ignore[misc]
            kind = type(result)
            if kind is unchanged:  # a string for a String or ID: nothing to complete
                out[key] = result
                continue
            awaitable = _AWAITABLE_TYPES.get(kind)
            if awaitable is None:
                awaitable = _is_awaitable(result)
            if awaitable:
                out[key] = None  # keeps the key's place in the response
                self.pending.append((out, key, result, planned))
            else:
                out[key] = complete(result, self)
        return out

    def _prepared(self, planned: PlannedField) -> RowResolver:
        """The field's row resolver for this request (its first row asks)."""
        assert planned.prepare is not None
        return planned.prepare(self._info(planned), **self._arguments_for(planned))

    def abandon(self) -> None:
        """Close what will never be awaited now (graphql-core runs the operation instead)."""
        for _, _, awaitable, _ in self.pending:
            if iscoroutine(awaitable):
                awaitable.close()
        self.pending = []

    def _arguments_for(self, planned: PlannedField) -> dict[str, Any]:
        arguments = planned.arguments
        return self._arguments_of(planned) if arguments is None else arguments

    def _arguments_of(self, planned: PlannedField) -> dict[str, Any]:
        arguments = self._arguments.get(id(planned))
        if arguments is None:
            assert planned.definition is not None
            try:
                arguments = get_argument_values(
                    planned.definition, planned.nodes[0], self._variables
                )
            except Exception as error:
                raise Unplannable("arguments do not coerce") from error
            self._arguments[id(planned)] = arguments
        return arguments

    def _info(self, planned: PlannedField) -> GraphQLResolveInfo[Any]:
        """One resolve-info per field of the plan per request (its path is the first row's)."""
        info = self._infos.get(id(planned))
        if info is None:
            assert planned.definition is not None
            info = self._infos[id(planned)] = self._make_info(
                planned.name, planned.nodes, planned.definition.type, planned.parent
            )
        return info

    def info_for_type(
        self, abstract: GraphQLAbstractType, nodes: list[FieldNode]
    ) -> GraphQLResolveInfo[Any]:
        return self._make_info(nodes[0].name.value, nodes, abstract, self._plan.root_type)

    def _make_info(
        self,
        name: str,
        nodes: list[FieldNode],
        return_type: Any,
        parent: GraphQLObjectType,
    ) -> GraphQLResolveInfo[Any]:
        plan = self._plan
        return GraphQLResolveInfo(
            name,
            nodes,
            return_type,
            parent,
            Path(None, nodes[0].alias.value if nodes[0].alias else name, parent.name),
            plan.planner.schema,
            dict(plan.planner.fragments),
            None,
            plan.operation,
            self._variables,
            self._context,
            isawaitable,  # type: ignore[arg-type]  # graphql-core types it as a TypeGuard
            None,
            None,  # type: ignore[arg-type]  # no resolver here uses graphql-core's async helpers
        )
