"""Compiled plans answer exactly as graphql-core does, or step aside."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import hypothesis_graphql
import pytest
from graphql import Executor, GraphQLSchema, build_schema, execute, parse, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kingdom.entrypoints.graphql import plans
from kingdom.entrypoints.graphql.plans import Plan, Unplannable
from kingdom.entrypoints.graphql.row_resolvers import per_row

SDL = """
interface Node { id: ID! }
union Thing = Item | Box
enum Color { RED GREEN }
scalar Amount

type Query {
  items(first: Int = 2, tag: String): [Item!]!
  node(id: ID!): Node
  things: [Thing]
  later: Item
  failing: Item
  color: Color
  count: Int!
  grid: [[Int]]
  rows: [Row!]!
  mapped: Row
}

type Mutation { touch: Int }

type Item implements Node {
  id: ID!
  name: String!
  tags: [String!]
  box: Box
  owner: Person
  price: Float
  missing: String!
}

type Box implements Node { id: ID! size: Int! items(first: Int = 1): [Item!]! }
type Person { name: String! }

type Row {
  id: ID!
  label: String
  shout(suffix: String = "!"): String!
  amount: Amount!
  total: Int
  tags: [String!]!
  owner: Person
  gaps: [String!]
  debt: Amount
  big: Int
}
"""


class Name(str):
    """A str subclass: graphql-core's String serializer gives it back as it is."""


class Row(NamedTuple):
    """A row as the adapters give them: a named tuple, read by attribute."""

    id: str
    label: str | None
    amount: int
    total: int | bool
    tags: tuple[str, ...]
    owner_id: str
    gaps: tuple[str | None, ...] = ()
    debt: int = 0
    big: int = 0

    def shout(self, info: Any, suffix: str) -> str:
        """A method: graphql-core's default resolver calls it with the info and arguments."""
        return f"{self.id.upper()}{suffix}"


@dataclass
class Item:
    id: str
    name: str
    tags: list[str]
    price: float
    owner_id: str
    missing: str | None = None


@dataclass
class Box:
    id: str
    size: int


ITEMS = [Item(f"i{n}", f"item {n}", ["a", "b"][: n % 3], n / 2, f"p{n % 2}") for n in range(5)]
BOXES = [Box("b1", 3), Box("b2", 0)]
ROWS = [
    Row("r0", "zero", 150, 3, ("a",), "p0", ("x",), 5, 7),
    # Each of the last three fields gives graphql-core an error here: a null item of a
    # [String!], an amount that does not serialize, an Int out of range.
    Row("r1", Name("one"), 0, True, ("a", "b"), "p1", ("y", None), -1, 2**31),
    Row("r2", None, 2**40, 2**31 - 1, (), "p0"),
]
MAPPED = MappingProxyType(
    {
        "id": "m1",
        "label": "mapped",
        "shout": lambda info, suffix: f"MAPPED{suffix}",
        "amount": 12,
        "total": None,
        "tags": ["m"],
        "owner_id": "p1",
    }
)


class People:
    """A batching loader: every owner asked in one level is fetched in one call."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self._queue: list[tuple[str, asyncio.Future[Any]]] = []

    def load(self, key: str) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((key, future))
        if len(self._queue) == 1:
            asyncio.get_running_loop().call_soon(self._dispatch)
        return future

    def _dispatch(self) -> None:
        queue, self._queue = self._queue, []
        self.batches.append([key for key, _ in queue])
        for key, future in queue:
            future.set_result({"name": f"person {key}"})


def _schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    query = schema.query_type
    assert query is not None

    def items(_: Any, info: Any, first: int, tag: str | None = None) -> list[Item]:
        return [item for item in ITEMS if tag is None or tag in item.tags][:first]

    async def later(_: Any, info: Any) -> Item:
        await asyncio.sleep(0)
        return ITEMS[1]

    def failing(_: Any, info: Any) -> Item:
        raise ValueError("no")

    query.fields["items"].resolve = items
    things: list[Item | Box] = [*ITEMS, *BOXES]
    query.fields["node"].resolve = lambda _, info, id: next(
        (thing for thing in things if thing.id == id), None
    )
    query.fields["things"].resolve = lambda *_: [ITEMS[0], None, BOXES[0]]
    query.fields["later"].resolve = later
    query.fields["failing"].resolve = failing
    query.fields["color"].resolve = lambda *_: "GREEN"
    query.fields["count"].resolve = lambda *_: 7
    query.fields["grid"].resolve = lambda *_: [[1, None], [], None]
    query.fields["rows"].resolve = lambda *_: ROWS
    query.fields["mapped"].resolve = lambda *_: MAPPED
    item, box = schema.get_type("Item"), schema.get_type("Box")
    item.fields["box"].resolve = lambda obj, info: BOXES[int(obj.id[1:]) % 2]  # type: ignore[union-attr]
    item.fields["owner"].resolve = lambda obj, info: info.context.load(obj.owner_id)  # type: ignore[union-attr]
    box.fields["items"].resolve = lambda obj, info, first: ITEMS[: obj.size][:first]  # type: ignore[union-attr]
    schema.get_type("Row").fields["owner"].resolve = per_row(_row_owner)  # type: ignore[union-attr]
    amount = schema.get_type("Amount")
    # As ariadne binds a serializer: graphql-core 3.3 calls coerce_output_value, 3.2 serialize.
    amount.serialize = amount.coerce_output_value = _serialize_amount  # type: ignore[union-attr]

    def resolve_type(value: Any, *_: Any) -> str:
        return type(value).__name__

    schema.get_type("Node").resolve_type = resolve_type  # type: ignore[union-attr]
    schema.get_type("Thing").resolve_type = resolve_type  # type: ignore[union-attr]
    return schema


def _row_owner(info: Any) -> Any:
    """A per-row resolver: the plans prepare it once per request, then call it per row."""

    def owner(row: Any) -> Any:
        owner_id = row["owner_id"] if isinstance(row, Mapping) else row.owner_id
        # One owner at once, the other through the batching loader (left pending).
        return {"name": "first"} if owner_id == "p0" else info.context.load(owner_id)

    return owner


def _serialize_amount(value: int) -> str | None:
    return str(value) if value >= 0 else None


SCHEMA = _schema()


async def _both(
    query: str, variables: dict[str, Any] | None = None, *, compiled: bool = False
) -> tuple[Any, Any]:
    """(graphql-core's result, the plan's data or the Unplannable it raised)."""
    document = parse(query)
    assert not validate(SCHEMA, document)
    expected = execute(
        SCHEMA, document, context_value=People(), variable_values=variables, executor_class=Executor
    )
    if asyncio.iscoroutine(expected) or isinstance(expected, asyncio.Future):
        expected = await expected
    try:
        plan = Plan.build(SCHEMA, document, None, compiled=compiled)
        planned: Any = await plan.run(People(), variables)
    except Unplannable as refused:
        planned = refused
    return expected, planned


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ items { id name tags price } }", None),
        (
            '{ a: items(first: 3) { n: name, ...F } b: items(tag: "a") { id } } '
            "fragment F on Item { id name box { size } }",
            None,
        ),
        ("query($t: String, $n: Int = 4) { items(first: $n, tag: $t) { id } }", {"t": "b"}),
        ("query($n: Int = 4) { items(first: $n) { id } }", None),
        # Variables the operation does not define are ignored (nothing to coerce).
        ("{ items(first: 2) { id } }", {"n": 1, "unused": "x"}),
        ("query($n: Int) { items(first: $n) { id } }", {"n": 1, "unused": "x"}),
        (
            "{ things { __typename ... on Item { name } ... on Box { size items(first: 2) { id } } } }",
            None,
        ),
        (
            '{ node(id: "b1") { id ... on Box { size } ...N } } fragment N on Node { __typename }',
            None,
        ),
        (
            "{ later { id owner { name } } items(first: 5) { owner { name } box { items { name } } } }",
            None,
        ),
        ("{ color count grid __typename }", None),
        (
            "{ items { ...F ...F } } fragment F on Item { id ...G } fragment G on Item { id name }",
            None,
        ),
        # Named-tuple rows, read by attribute; a method the default resolver calls; a custom
        # scalar; an Int given a bool; a per-row resolver, at once or through the loader.
        ("{ rows { id label shout total amount tags owner { name } } }", None),
        ('query($s: String) { rows { a: shout(suffix: "?") b: shout(suffix: $s) } }', {"s": "."}),
        # A mapping that is not a dict: read by key; a callable value is called.
        ('{ mapped { __typename id label shout(suffix: "?") total amount owner { name } } }', None),
    ],
)
@pytest.mark.parametrize("compiled", [False, True], ids=["field by field", "compiled"])
async def test_a_plan_answers_as_graphql_core(
    query: str, variables: dict[str, Any] | None, compiled: bool
) -> None:
    expected, planned = await _both(query, variables, compiled=compiled)
    assert not expected.errors
    assert planned == expected.data
    assert list(_keys(planned)) == list(_keys(expected.data))  # same order, all the way down


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


@pytest.mark.parametrize("compiled", [False, True], ids=["field by field", "compiled"])
async def test_loaders_still_batch_a_whole_level(compiled: bool) -> None:
    people = People()
    document = parse("{ items(first: 5) { owner { name } } later { owner { name } } }")
    await Plan.build(SCHEMA, document, None, compiled=compiled).run(people, None)
    # The five owners in one batch; `later`'s owner one level further down, in another.
    assert sorted(map(len, people.batches)) == [1, 5]


@pytest.mark.parametrize(
    "query",
    [
        "{ failing { id } }",  # a resolver raises: graphql-core words the error
        "{ items(first: 5) { missing } }",  # null in a non-null field
        "{ items @skip(if: false) { id } }",  # directives depend on variables
        "{ __schema { queryType { name } } }",  # introspection
        "mutation { touch }",  # only queries
    ],
)
@pytest.mark.parametrize("compiled", [False, True], ids=["field by field", "compiled"])
async def test_anything_off_the_successful_path_is_graphql_cores(
    query: str, compiled: bool
) -> None:
    document = parse(query)
    with pytest.raises(Unplannable):
        await Plan.build(SCHEMA, document, None, compiled=compiled).run(People(), None)


@pytest.mark.parametrize(
    "query",
    [
        "{ rows { id label gaps } }",  # null in a non-null item of a list
        "{ rows { id debt } }",  # a leaf that does not serialize
        "{ rows { id big } }",  # an Int out of range
    ],
)
@pytest.mark.parametrize("compiled", [False, True], ids=["field by field", "compiled"])
async def test_an_error_in_a_row_is_graphql_cores(query: str, compiled: bool) -> None:
    expected, planned = await _both(query, compiled=compiled)
    assert expected.errors
    assert isinstance(planned, Unplannable)


@pytest.mark.parametrize("compiled", [False, True], ids=["field by field", "compiled"])
async def test_awaitable_list_items_are_graphql_cores(compiled: bool) -> None:
    # A nullable name: read off the future itself, it would be a wrong null, not an error.
    schema = build_schema("type Query { later: [Person] } type Person { name: String }")
    query = schema.query_type
    assert query is not None

    def later(*_: Any) -> list[asyncio.Future[Any]]:
        future = asyncio.get_running_loop().create_future()
        future.set_result({"name": "later"})
        return [future]

    query.fields["later"].resolve = later
    document = parse("{ later { name } }")
    expected = await execute(schema, document)  # type: ignore[misc]
    assert expected.data == {"later": [{"name": "later"}]}
    with pytest.raises(Unplannable):
        await Plan.build(schema, document, None, compiled=compiled).run(None, None)


async def test_a_plan_run_often_is_compiled_and_answers_the_same() -> None:
    query = "{ rows { id shout amount owner { name } } items { id box { size } } }"
    document = parse(query)
    expected, _ = await _both(query)
    plan = Plan.build(SCHEMA, document, None)
    runs = 0
    while not plan.planner.compiled:
        assert await plan.run(People(), None) == expected.data
        runs += 1
        assert runs < 1000
    assert await plan.run(People(), None) == expected.data


async def test_compiled_walks_hold_no_text_of_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a client writes (keys, names) is a value of the walks, never their source."""
    sources: list[str] = []
    compile_source = plans._compiled

    def recording(source: str) -> Any:
        sources.append(source)
        return compile_source(source)

    monkeypatch.setattr(plans, "_compiled", recording)
    query = "{ zzAlias: items(first: 2) { yyKey: name box { xxSize: size } } }"
    expected, planned = await _both(query, compiled=True)
    assert (
        planned
        == expected.data
        == {
            "zzAlias": [
                {"yyKey": "item 0", "box": {"xxSize": 3}},
                {"yyKey": "item 1", "box": {"xxSize": 0}},
            ]
        }
    )
    assert len(sources) == 3  # one walk per selection set
    assert not any(text in source for text in ("zz", "yy", "xx", "item") for source in sources)


async def test_an_unnamed_choice_between_operations_is_graphql_cores() -> None:
    with pytest.raises(Unplannable):
        Plan.build(SCHEMA, parse("query A { count } query B { count }"), None)
    plan = Plan.build(SCHEMA, parse("query A { count } query B { color }"), "B")
    assert await plan.run(None, None) == {"color": "GREEN"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_query_is_answered_as_graphql_core_would_or_left_to_it(data: st.DataObject) -> None:
    query = data.draw(hypothesis_graphql.queries(SDL))
    for compiled in (False, True):
        expected, planned = asyncio.run(_both(query, compiled=compiled))
        if isinstance(planned, Unplannable):
            # Stepping aside is only allowed where graphql-core reports an error
            # or the document uses what plans leave out.
            assert expected.errors or "@" in query or "__schema" in query or "__type(" in query
        else:
            assert not expected.errors
            assert planned == expected.data
