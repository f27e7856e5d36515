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
data. A plan that runs often is walked by functions written for its
selection sets, one each, with the fields unrolled (see :class:`Plan`).

The plan gives the *same answer* graphql-core would, or none: it runs
queries only, without ``@skip``/``@include`` or other directives in the
operation, introspection (``__schema``, ``__type``) or fragment arguments;
and as soon as anything goes off the successful path — a resolver raises, a
non-null field is null, a leaf does not serialize, a type cannot be
resolved — it gives up with :class:`Unplannable`, and the caller runs the
operation again with graphql-core, which reports the error with its path
and nulls exactly as the spec says (an awaitable list item, which
graphql-core awaits, is left to it too). Queries have no side effects, so
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from inspect import isawaitable, iscoroutine
from types import CodeType, GeneratorType
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
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    default_field_resolver,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import ListValueNode, ObjectValueNode, ValueNode
from graphql.pyutils import Path

from kingdom.entrypoints.graphql.deadline import Deadline, timeout
from kingdom.entrypoints.graphql.row_resolvers import Prepare, preparer_of

TYPENAME: Final = "__typename"
_INTROSPECTION: Final = frozenset({"__schema", "__type"})
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1


_AWAITABLE_TYPES: dict[type, bool] = {}
_MAPPING_TYPES: dict[type, bool] = {}


def _is_awaitable(value: Any) -> bool:
    """:func:`inspect.isawaitable`, remembered per type."""
    kind = type(value)
    known = _AWAITABLE_TYPES.get(kind)
    if known is None:
        known = isawaitable(value)
        # Only types whose instances all agree (a generator's flags vary per object).
        if kind is not GeneratorType:
            _AWAITABLE_TYPES[kind] = known
    return known


_PLAIN: Final[set[type]] = {type(None), str, int, float, bool, list, tuple, dict}
"""Types whose values are neither awaitable nor callable: whichever resolver gave one, it
is completed at once. One set lookup per field of every row, instead of the checks."""


def _remember_plain(value: Any) -> None:
    """Adds ``value``'s type to :data:`_PLAIN` if its values are plain.

    Both properties are the type's: :func:`callable` asks the type, and
    :func:`_is_awaitable` remembers no type whose instances may disagree.
    """
    kind = type(value)
    if kind is not GeneratorType and not callable(value) and not _is_awaitable(value):
        _PLAIN.add(kind)


def _is_mapping(value: Any) -> bool:
    """Whether graphql-core's default resolver reads ``value`` by key, remembered per type."""
    mapping = _MAPPING_TYPES[type(value)] = isinstance(value, Mapping)
    return mapping


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


@dataclass(eq=False)
class SelectionPlan:
    """The fields of one selection set on one concrete object type, in response order."""

    type_name: str
    fields: list[PlannedField]
    null: bool | None = None
    """What ``walk`` does with ``None``: give up (``True``: a non-null type), answer null
    (``False``), or nothing (``None``: the root, or a value a type was resolved for)."""
    compiled: bool = False
    """Walked by a function written for it, or field by field (see :class:`Plan`)."""
    walk: Complete = field(init=False, repr=False)
    """The object of this type made of a value (awaitable fields left pending)."""

    def __post_init__(self) -> None:
        self.walk = _walker(self) if self.compiled else _cold_walker(self)


def _cold_walker(plan: SelectionPlan) -> Complete:
    """``plan``'s walk field by field, as its compiled walk does unrolled (see :class:`Plan`)."""
    steps = [(planned, _how(planned)) for planned in plan.fields]
    null, type_name = plan.null, plan.type_name

    def walk(value: Any, run: Run) -> Any:
        if value is None and null is not None:
            return _null(null)
        run.walked += len(steps)
        kind = type(value)
        mapping = kind is dict or _MAPPING_TYPES.get(kind)
        if mapping is None:
            mapping = _is_mapping(value)
        out: dict[str, Any] = {}
        for planned, how in steps:
            if how == "typename":
                out[planned.key] = type_name
                continue
            if how == "default":
                name = planned.name
                result = value.get(name) if mapping else getattr(value, name, None)
            elif how == "prepared":
                result = run.bound[planned](value)
            elif how == "resolver variables":
                info, arguments = run.bound[planned]
                result = planned.resolve(value, info, **arguments)  # type: ignore[misc]
            else:
                arguments = planned.arguments or {}
                result = planned.resolve(value, run.bound[planned], **arguments)  # type: ignore[misc]
            if type(result) in _PLAIN:
                out[planned.key] = planned.complete(result, run)
            else:
                out[planned.key] = _off_path(run, out, planned, result, how == "default")
        return out

    return walk


# Compiled walks.
#
# A selection plan walked often enough gets a function of its own: the
# fields unrolled in response order, each read the one way its resolver
# needs, so a row costs no loop over fields, no dispatch on their kind and
# no call per field but the resolver's and an object's. The source is made
# of the templates below and numbered names only; what the document says
# (keys, names) and the schema's objects reach it as values bound to those
# names, never as text. Plans of the same shape share one code object.

_HEAD: Final = "def walk(value, run):\n"
_NULL_CHECK: Final = {
    True: "    if value is None:\n        raise Unplannable('null in a non-null field')\n",
    False: "    if value is None:\n        return None\n",
    None: "",
}
_BOUND: Final = "    bound = run.bound\n"
_MAPPING: Final = (
    "    kind = type(value)\n"
    "    mapping = kind is dict or MAPPING_TYPES.get(kind)\n"
    "    if mapping is None:\n"
    "        mapping = is_mapping(value)\n"
)
_TYPENAME: Final = "    out[key{i}] = type_name\n"
_RESOLVE: Final = {
    # graphql-core's default resolver, inlined (its callables are called off the path).
    "default": "    result = value.get(name{i}) if mapping else getattr(value, name{i}, None)\n",
    "prepared": "    result = bound[field{i}](value)\n",
    "resolver": "    result = resolve{i}(value, bound[field{i}])\n",
    "resolver constant": "    result = resolve{i}(value, bound[field{i}], **arguments{i})\n",
    "resolver variables": (
        "    info, arguments = bound[field{i}]\n"
        "    result = resolve{i}(value, info, **arguments)\n"
    ),
}
_COMPLETE: Final = (
    "    if type(result) in PLAIN:\n"
    "        out[key{i}] = complete{i}(result, run)\n"
    "    else:\n"
    "        out[key{i}] = off_path(run, out, field{i}, result, {default})\n"
)
_COMPLETE_UNCHANGED: Final = (
    # A value graphql-core's serializer gives back unchanged (see _UNCHANGED) is the answer.
    "    kind = type(result)\n"
    "    if {unchanged}:\n"
    "        out[key{i}] = result\n"
    "    elif kind in PLAIN:\n"
    "        out[key{i}] = complete{i}(result, run)\n"
    "    else:\n"
    "        out[key{i}] = off_path(run, out, field{i}, result, {default})\n"
)
_UNCHANGED: Final[dict[object, str]] = {
    # Exactly str and int (a subclass, bool included, may serialize otherwise).
    GraphQLString: "kind is str",
    GraphQLID: "kind is str",
    GraphQLInt: "kind is int and INT_MIN <= result <= INT_MAX",
}
_COMPLETE_LEAF: Final = (
    # Any other leaf: serialized in place (a null is its completion's: null or give up).
    "    if result is None:\n"
    "        out[key{i}] = complete{i}(result, run)\n"
    "    elif type(result) in PLAIN:\n"
    "        serialized = serialize{i}(result)\n"
    "        if serialized is None or serialized is Undefined:\n"
    "            raise Unplannable('a leaf did not serialize')\n"
    "        out[key{i}] = serialized\n"
    "    else:\n"
    "        out[key{i}] = off_path(run, out, field{i}, result, {default})\n"
)


def _walker(plan: SelectionPlan) -> Complete:
    """``plan``'s walk: its source from the templates, its names bound to the plan's values."""
    namespace: dict[str, Any] = {
        "PLAIN": _PLAIN,
        "MAPPING_TYPES": _MAPPING_TYPES,
        "is_mapping": _is_mapping,
        "off_path": _off_path,
        "Unplannable": Unplannable,
        "Undefined": Undefined,
        "INT_MIN": _INT_MIN,
        "INT_MAX": _INT_MAX,
        "type_name": plan.type_name,
    }
    hows = [_how(planned) for planned in plan.fields]
    source = [_HEAD, _NULL_CHECK[plan.null]]
    if any(how not in ("default", "typename") for how in hows):
        source.append(_BOUND)
    if "default" in hows:
        source.append(_MAPPING)
    source.append("    out = {}\n")
    for i, (planned, how) in enumerate(zip(plan.fields, hows, strict=True)):
        namespace.update(
            {
                f"key{i}": planned.key,
                f"name{i}": planned.name,
                f"field{i}": planned,
                f"resolve{i}": planned.resolve,
                f"arguments{i}": planned.arguments,
                f"complete{i}": planned.complete,
                f"serialize{i}": _serializer(planned),
            }
        )
        source.append(_step_source(i, planned, how))
    source.append("    return out\n")
    exec(_compiled("".join(source)), namespace)  # our templates only, see above
    walk: Complete = namespace["walk"]
    return walk


def _how(planned: PlannedField) -> str:
    """How ``planned`` is resolved: a key of :data:`_RESOLVE`, or ``"typename"``."""
    if planned.definition is None:
        return "typename"
    if planned.prepare is not None:
        return "prepared"
    if planned.resolve is None:
        return "default"
    if planned.arguments is None:
        return "resolver variables"
    return "resolver constant" if planned.arguments else "resolver"


def _step_source(i: int, planned: PlannedField, how: str) -> str:
    if how == "typename":
        return _TYPENAME.format(i=i)
    named = _named(planned)
    unchanged = _UNCHANGED.get(named)
    if unchanged is not None:
        complete = _COMPLETE_UNCHANGED.format(i=i, default=how == "default", unchanged=unchanged)
    elif is_leaf_type(named):
        complete = _COMPLETE_LEAF.format(i=i, default=how == "default")
    else:
        complete = _COMPLETE.format(i=i, default=how == "default")
    return _RESOLVE[how].format(i=i) + complete


def _named(planned: PlannedField) -> GraphQLOutputType:
    """The field's type, without its non-null wrapper."""
    assert planned.definition is not None
    type_ = planned.definition.type
    return type_.of_type if is_non_null_type(type_) else type_


def _serializer(planned: PlannedField) -> Callable[[Any], Any] | None:
    """The field's leaf serializer, if its type is a leaf."""
    if planned.definition is None:
        return None
    named = _named(planned)
    return _serializer_of(named) if is_leaf_type(named) else None


def _serializer_of(type_: GraphQLLeafType) -> Callable[[Any], Any]:
    """What graphql-core serializes a leaf with: ``coerce_output_value`` from 3.3 on (which
    ariadne binds too), ``serialize`` before."""
    coerce: Callable[[Any], Any] | None = getattr(type_, "coerce_output_value", None)
    return type_.serialize if coerce is None else coerce


@lru_cache(maxsize=256)
def _compiled(source: str) -> CodeType:
    """One code object per shape of plan: compiling costs more than planning the rest."""
    code: CodeType = compile(source, "<plan>", "exec")
    return code


def _off_path(
    run: Run, out: dict[str, Any], planned: PlannedField, result: Any, default: bool
) -> Any:
    """Completes a result of a type not known plain (its type is remembered if it is).

    The default resolver calls a callable; an awaitable is left pending,
    keeping its key's place in ``out`` with ``None`` until :func:`_settle`.
    """
    if default and callable(result):
        result = result(run.info(planned), **run.arguments(planned))
    if _is_awaitable(result):
        run.pending.append((out, planned.key, result, planned))
        return None
    _remember_plain(result)
    return planned.complete(result, run)


class Planner:
    """Builds plans for one schema and one document (each selection set once, then cached)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        compiled: bool = False,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.compiled = compiled
        self.size = 0
        """Fields planned so far (an abstract type's plans are made as its types show up)."""

    def selection(
        self,
        object_type: GraphQLObjectType,
        field_nodes: Iterable[FieldNode],
        null: bool | None = None,
    ) -> SelectionPlan:
        """The plan of the sub-selections of ``field_nodes`` (one field's nodes) on ``object_type``."""
        grouped: dict[str, list[FieldNode]] = {}
        for node in field_nodes:
            if node.selection_set is not None:
                self._collect(object_type, node.selection_set, grouped, set())
        return self._plan(object_type, grouped, null)

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
        self,
        object_type: GraphQLObjectType,
        grouped: dict[str, list[FieldNode]],
        null: bool | None = None,
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
        self.size += len(fields)
        return SelectionPlan(object_type.name, fields, null, self.compiled)

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
            return _list_completion(self._completion(type_.of_type, nodes), non_null)
        if is_leaf_type(type_):
            serialize = _serializer_of(type_)
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
                if serialized is None or serialized is Undefined:
                    raise Unplannable("a leaf did not serialize")
                return serialized

            return leaf
        if is_object_type(type_):
            # The sub-plan's walk is the completion: it handles null itself.
            return self.selection(type_, nodes, null=non_null).walk
        if is_abstract_type(type_):
            return _AbstractCompletion(self, type_, nodes, non_null)
        raise Unplannable(f"unknown output type {type_}")


def _null(non_null: bool) -> None:
    if non_null:
        raise Unplannable("null in a non-null field")
    return None


_NOT_LISTS: Final = (str, bytes, bytearray, memoryview, Mapping)
"""Iterables graphql-core does not take for a list (its ``is_iterable``)."""


def _list_completion(item: Complete, non_null: bool) -> Complete:
    def list_of(value: Any, run: Run) -> Any:
        if value is None:
            return _null(non_null)
        kind = type(value)
        if kind is not list and kind is not tuple and not _is_list(value):
            raise Unplannable("a list field returned no list")
        return [
            item(element, run) if type(element) in _PLAIN else _list_item(item, element, run)
            for element in value
        ]

    return list_of


def _is_list(value: Any) -> bool:
    """graphql-core's ``is_iterable`` (an async iterable is graphql-core's to complete)."""
    return isinstance(value, Iterable) and not isinstance(value, _NOT_LISTS)


def _list_item(item: Complete, element: Any, run: Run) -> Any:
    """An item of a type not known plain: graphql-core awaits an awaitable one."""
    if _is_awaitable(element):
        raise Unplannable("an awaitable list item")
    _remember_plain(element)
    return item(element, run)


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
        return plan.walk(value, run)


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


_HOT: Final = 128
"""A plan is compiled once its runs have walked this many times as many fields as it has."""


@dataclass(eq=False)
class Plan:
    """One query operation of a cached document, ready to run for any request.

    A plan starts walked field by field (:func:`_cold_walker`), and is
    planned again with compiled walks (:func:`_walker`) once its runs have
    walked :data:`_HOT` times as many fields as it has. Compiling a field
    costs tens of microseconds, ten times the rest of its planning: done
    for every document, it would let a client sending new documents hold the
    event loop that long each time; done for what runs often, it costs about
    what the walks before it did, and spares most of every walk after it.
    """

    operation: OperationDefinitionNode
    planner: Planner
    root: SelectionPlan
    root_type: GraphQLObjectType
    walked: int = 0
    """Fields walked field by field so far."""

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        *,
        compiled: bool = False,
    ) -> Plan:
        """The plan of the operation a request names, or :class:`Unplannable`.

        ``compiled``: with compiled walks at once (tests), not once it is hot.
        """
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
        planner = Planner(schema, fragments, compiled)
        return cls(operation, planner, planner.root(root_type, operation.selection_set), root_type)

    def _count(self, run: Run) -> None:
        """Counts what ``run`` walked field by field; compiles the plan once it is hot."""
        self.walked += run.walked
        if self.walked >= _HOT * self.planner.size:
            planner = Planner(self.planner.schema, self.planner.fragments, compiled=True)
            # Runs under way keep the plans they started with (all still correct).
            self.root = planner.root(self.root_type, self.operation.selection_set)
            self.planner = planner

    async def run(
        self,
        context: Any,
        variables: Mapping[str, Any] | None,
        deadline: Deadline | None = None,
    ) -> dict[str, Any]:
        """The operation's ``data`` for this request, or :class:`Unplannable`.

        ``deadline`` bounds the waiting: past it, ``TimeoutError``. What runs
        synchronously cannot be interrupted anyway, so no timer is set (and
        the deadline's clock not started) unless something is awaited.
        """
        definitions = self.operation.variable_definitions
        if definitions:
            coerced = get_variable_values(self.planner.schema, definitions, dict(variables or {}))
            if isinstance(coerced, list):
                raise Unplannable("variables do not coerce")
        else:
            # Nothing to coerce: variables the operation does not define are ignored.
            coerced = VariableValues({}, {})
        run = Run(self, context, coerced)
        try:
            try:
                data: dict[str, Any] = self.root.walk(None, run)
            except BaseException as error:
                raise _given_up(run, error)  # noqa: B904 (its cause is set where it is made)
            if run.pending:
                async with timeout(deadline):
                    try:
                        await _settle(run)
                    except BaseException as error:
                        raise _given_up(run, error)  # noqa: B904
        finally:
            run.end()
        if run.walked and not self.planner.compiled:  # (a run begun before it was compiled)
            self._count(run)
        return data


def _given_up(run: Run, error: BaseException) -> BaseException:
    """What to raise when ``error`` stops ``run``: any failure gives the run up, and
    graphql-core will report it properly; a cancellation (the deadline) is passed on."""
    run.abandon()
    if isinstance(error, Exception) and not isinstance(error, Unplannable):  # a resolver's
        given_up = Unplannable("a resolver failed")
        given_up.__cause__ = error
        return given_up
    return error


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


class _Bound(dict[PlannedField, Any]):
    """A run's :meth:`Run.bind` per field, asked of the run on a field's first row only:
    a missing key is the one case that costs more than a dict look-up."""

    __slots__ = ("run",)
    run: Run
    # No __init__ of its own: dict's is several times cheaper, and every request makes one.

    def __missing__(self, planned: PlannedField) -> Any:
        bound = self[planned] = self.run.bind(planned)
        return bound


class Run:
    """One request's walk through a plan."""

    def __init__(self, plan: Plan, context: Any, variables: Any) -> None:
        self._plan = plan
        self._context = context
        self._variables = variables
        self._infos: dict[PlannedField, GraphQLResolveInfo[Any]] = {}
        self._arguments: dict[PlannedField, dict[str, Any]] = {}
        self.bound = _Bound()
        """What the rows of a field share in this request (see :meth:`bind`)."""
        self.bound.run = self
        self.walked = 0
        """Fields walked field by field (by plans not compiled yet)."""
        self.pending: list[Pending] = []
        """Awaitable results still to complete: (object, key, awaitable, field)."""

    def bind(self, planned: PlannedField) -> Any:
        """What every row of ``planned`` shares in this request (its first row asks):
        its row resolver if it has one (:mod:`.row_resolvers`), else its info, with its
        arguments when they depend on the variables."""
        info = self.info(planned)
        if planned.prepare is not None:
            return planned.prepare(info, **self.arguments(planned))
        if planned.arguments is None:
            return info, self.arguments(planned)
        return info

    def end(self) -> None:
        """Cut the run's one reference cycle (it and its bound dict): reference
        counting then frees the request (its context, loaders and rows) at once,
        not at the collector's next pass."""
        del self.bound.run

    def abandon(self) -> None:
        """Close what will never be awaited now (graphql-core runs the operation instead)."""
        for _, _, awaitable, _ in self.pending:
            if iscoroutine(awaitable):
                awaitable.close()
        self.pending = []

    def arguments(self, planned: PlannedField) -> dict[str, Any]:
        """The field's arguments in this request."""
        if planned.arguments is not None:
            return planned.arguments
        arguments = self._arguments.get(planned)
        if arguments is None:
            assert planned.definition is not None
            try:
                arguments = get_argument_values(
                    planned.definition, planned.nodes[0], self._variables
                )
            except Exception as error:
                raise Unplannable("arguments do not coerce") from error
            self._arguments[planned] = arguments
        return arguments

    def info(self, planned: PlannedField) -> GraphQLResolveInfo[Any]:
        """One resolve-info per field of the plan per request (its path is the first row's)."""
        info = self._infos.get(planned)
        if info is None:
            assert planned.definition is not None
            info = self._infos[planned] = self._make_info(
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
