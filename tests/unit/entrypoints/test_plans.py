"""Compiled plans answer exactly as graphql-core does, or step aside."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import hypothesis_graphql
import pytest
from graphql import Executor, GraphQLSchema, build_schema, execute, parse, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kingdom.entrypoints.graphql.plans import Plan, Unplannable

SDL = """
interface Node { id: ID! }
union Thing = Item | Box
enum Color { RED GREEN }

type Query {
  items(first: Int = 2, tag: String): [Item!]!
  node(id: ID!): Node
  things: [Thing]
  later: Item
  failing: Item
  color: Color
  count: Int!
  grid: [[Int]]
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
"""


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
    item, box = schema.get_type("Item"), schema.get_type("Box")
    item.fields["box"].resolve = lambda obj, info: BOXES[int(obj.id[1:]) % 2]  # type: ignore[union-attr]
    item.fields["owner"].resolve = lambda obj, info: info.context.load(obj.owner_id)  # type: ignore[union-attr]
    box.fields["items"].resolve = lambda obj, info, first: ITEMS[: obj.size][:first]  # type: ignore[union-attr]

    def resolve_type(value: Any, *_: Any) -> str:
        return type(value).__name__

    schema.get_type("Node").resolve_type = resolve_type  # type: ignore[union-attr]
    schema.get_type("Thing").resolve_type = resolve_type  # type: ignore[union-attr]
    return schema


SCHEMA = _schema()


async def _both(query: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(graphql-core's result, the plan's data or the Unplannable it raised)."""
    document = parse(query)
    assert not validate(SCHEMA, document)
    expected = execute(
        SCHEMA, document, context_value=People(), variable_values=variables, executor_class=Executor
    )
    if asyncio.iscoroutine(expected) or isinstance(expected, asyncio.Future):
        expected = await expected
    try:
        planned: Any = await Plan.build(SCHEMA, document, None).run(People(), variables)
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
    ],
)
async def test_a_plan_answers_as_graphql_core(query: str, variables: dict[str, Any] | None) -> None:
    expected, planned = await _both(query, variables)
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


async def test_loaders_still_batch_a_whole_level() -> None:
    people = People()
    document = parse("{ items(first: 5) { owner { name } } later { owner { name } } }")
    await Plan.build(SCHEMA, document, None).run(people, None)
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
async def test_anything_off_the_successful_path_is_graphql_cores(query: str) -> None:
    document = parse(query)
    with pytest.raises(Unplannable):
        await Plan.build(SCHEMA, document, None).run(People(), None)


async def test_an_unnamed_choice_between_operations_is_graphql_cores() -> None:
    with pytest.raises(Unplannable):
        Plan.build(SCHEMA, parse("query A { count } query B { count }"), None)
    plan = Plan.build(SCHEMA, parse("query A { count } query B { color }"), "B")
    assert await plan.run(None, None) == {"color": "GREEN"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_query_is_answered_as_graphql_core_would_or_left_to_it(data: st.DataObject) -> None:
    query = data.draw(hypothesis_graphql.queries(SDL))
    expected, planned = asyncio.run(_both(query))
    if isinstance(planned, Unplannable):
        # Stepping aside is only allowed where graphql-core reports an error
        # or the document uses what plans leave out.
        assert expected.errors or "@" in query or "__schema" in query or "__type(" in query
    else:
        assert not expected.errors
        assert planned == expected.data
