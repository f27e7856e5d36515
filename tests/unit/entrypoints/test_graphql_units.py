"""The GraphQL entrypoint's pure parts: global ids, page arguments, loaders, the directive."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest
from ariadne import QueryType, make_executable_schema
from graphql import GraphQLEnumType

from kingdom.domain.access import ReadScope
from kingdom.domain.shared import Invalid
from kingdom.entrypoints.graphql import global_ids
from kingdom.entrypoints.graphql.directives import DIRECTIVES
from kingdom.entrypoints.graphql.errors import INTERNAL_MESSAGE, format_error
from kingdom.entrypoints.graphql.loaders import DataLoader
from kingdom.entrypoints.graphql.nodes import policy_selector
from kingdom.entrypoints.graphql.pagination import page_request
from kingdom.entrypoints.graphql.schema import build_schema
from kingdom.services.ports import Direction
from kingdom.services.resources import RESOURCES


def test_global_ids_round_trip_and_name_their_type() -> None:
    encoded = global_ids.encode("Account", "acc:1/é")

    assert global_ids.decode(encoded) == ("Account", "acc:1/é")
    assert global_ids.decode_as(encoded, "Account") == "acc:1/é"
    assert "=" not in encoded


@pytest.mark.parametrize(
    "bad",
    ["", "=", "QWNjb3VudDp4=", "QWNjb3VudDp", "Tm9wZTp4", "QWNjb3VudDo", "a b", None, 5, "x" * 300],
)
def test_global_ids_refuse_anything_not_issued(bad: object) -> None:
    with pytest.raises(Invalid):
        global_ids.decode(bad)


def test_a_global_id_of_another_type_is_refused() -> None:
    with pytest.raises(Invalid, match="expected the id of a Account"):
        global_ids.decode_as(global_ids.encode("User", "u"), "Account")


def test_page_arguments() -> None:
    assert page_request() == page_request(first=20)
    assert page_request(last=5, before="c").direction is Direction.BACKWARD
    assert page_request(before="c").limit == 20
    for bad in (
        {"first": 1, "last": 1},
        {"first": 101},
        {"last": 0},
        {"after": "a", "before": "b"},
        {"first": 1, "before": "b"},
        {"after": ""},
    ):
        with pytest.raises(Invalid):
            page_request(**bad)


async def test_a_loader_fetches_the_keys_of_one_tick_in_one_batch() -> None:
    batches: list[Sequence[str]] = []

    async def fetch(keys: Sequence[str]) -> Mapping[str, str]:
        batches.append(list(keys))
        return {key: key.upper() for key in keys if key != "missing"}

    loader = DataLoader(fetch)

    async def resolve(key: str) -> str | None:
        return await loader.load(key)

    first = await asyncio.gather(*(resolve(key) for key in ("a", "b", "a", "missing")))
    again = await loader.load("b")

    assert first == ["A", "B", "A", None]
    assert again == "B"
    assert batches == [["a", "b", "missing"]]


async def test_a_failed_batch_fails_its_callers_and_is_not_cached() -> None:
    calls = 0

    async def fetch(keys: Sequence[str]) -> Mapping[str, str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("down")
        return {key: key for key in keys}

    loader = DataLoader(fetch)
    results = await asyncio.gather(loader.load("a"), loader.load("b"), return_exceptions=True)

    assert [type(result) for result in results] == [RuntimeError, RuntimeError]
    assert await loader.load("a") == "a"


def test_the_schema_builds() -> None:
    schema = build_schema()

    assert schema.get_type("Node") is not None
    assert schema.query_type is not None
    assert {"node", "nodes", "viewer", "accounts", "users", "roles"} <= set(
        schema.query_type.fields
    )
    assert schema.mutation_type is not None
    assert len(schema.mutation_type.fields) == 18


SDL = """
directive @needsPermission(resource: String!, action: Action!, selector: String) on FIELD_DEFINITION
directive @authenticated on FIELD_DEFINITION
enum Action { READ CREATE UPDATE DELETE }
input In { accountId: ID! }
type Query { x(input: In!): Int @needsPermission(resource: "accounts", action: UPDATE, selector: "%s") }
"""


@pytest.mark.parametrize("selector", ["inptu.accountId", "input.acountId", "input"])
def test_a_selector_that_leads_nowhere_fails_when_the_schema_is_built(selector: str) -> None:
    with pytest.raises(ValueError, match="selector|ID or a String"):
        make_executable_schema(SDL % selector, QueryType(), directives=DIRECTIVES)


def test_internal_errors_are_masked() -> None:
    from graphql import GraphQLError

    error = GraphQLError(
        "psycopg: SELECT secret", path=["accounts"], original_error=RuntimeError("SELECT secret")
    )

    assert format_error(error, debug=True) == {
        "message": INTERNAL_MESSAGE,
        "path": ["accounts"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }


def test_read_scope_is_hashable_for_loader_keys() -> None:
    assert {ReadScope.everything(): 1}[ReadScope(all=True)] == 1


def test_the_resource_enum_is_the_services_list_of_resources() -> None:
    # One source of truth: kingdom.services.resources; the SDL file must agree.
    enum = build_schema().get_type("Resource")
    assert isinstance(enum, GraphQLEnumType)
    assert {name: value.value for name, value in enum.values.items()} == {
        resource.upper(): resource for resource in RESOURCES
    }


def test_a_directive_naming_an_unknown_resource_fails_when_the_schema_is_built() -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        make_executable_schema(
            SDL.replace('"accounts"', '"acounts"') % "input.accountId",
            QueryType(),
            directives=DIRECTIVES,
        )


def test_policy_selectors_take_keywords_global_ids_of_the_resource_and_raw_ids() -> None:
    assert policy_selector("accounts", "*") == "*"
    assert policy_selector("accounts", "@own") == "@own"
    assert policy_selector("accounts", global_ids.encode("Account", "a-1")) == "a-1"
    assert policy_selector("users", global_ids.encode("User", "u-1")) == "u-1"
    assert policy_selector("roles", "auditor") == "auditor"  # a raw id (a role's code)
    with pytest.raises(Invalid, match="id of a User; policies on accounts select Account ids"):
        policy_selector("accounts", global_ids.encode("User", "u-1"))
    with pytest.raises(Invalid, match="Transfer"):
        policy_selector("accounts", global_ids.encode("Transfer", "t-1"))
