"""Fuzzing the API with documents hypothesis-graphql derives from the schema.

Whatever an administrator sends, the server answers without a 5xx and
without an INTERNAL_SERVER_ERROR: valid documents run (or are refused by a
query limit, with its code), invalid ones, whether generated with a schema
violation or cut short, are refused with errors.

hypothesis-graphql rarely builds the documents that hurt, so hostile shapes
are drawn too (issue 10): fragment chains whose every level spreads the one
below twice or more (a naive walk expands them exponentially), selection
sets repeating one field hundreds or thousands of times (the field-merging
check is quadratic in them), and list sizes given as variable defaults. Each
gets the same well-formed answer. Their cost is not timed here (a shared
machine makes any bound a coin toss); the walkers' linearity is asserted
structurally (``tests/unit/entrypoints/test_selection.py`` counts fragment
lookups, the limits refuse wide sets before validation), and an exponential
walk would not answer at all.
"""

from __future__ import annotations

from typing import Any

import hypothesis_graphql as hg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from integration.entrypoints.support import Api
from kingdom.entrypoints.graphql.schema import build_schema
from kingdom.services.fakes import superuser
from kingdom.services.ports import MAX_PAGE_SIZE

SCHEMA = build_schema()
SCALARS = {
    # Inline values the scalars accept: hypothesis-graphql only knows their names.
    "Amount": st.one_of(
        st.integers(min_value=-(2**40), max_value=2**40).map(nodes.Int),
        st.integers(min_value=0, max_value=2**40).map(nodes.String),
    ),
    "DateTime": st.datetimes().map(lambda moment: nodes.String(f"{moment.isoformat()}Z")),
}
LIMIT_CODES = {
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COMPLEX",
    "TOO_MANY_ALIASES",
    "TOO_MANY_TOKENS",
    "TOO_MANY_SELECTIONS",
}
# A schema-valid document may still carry text the server refuses (NUL).
REFUSED_CODES = LIMIT_CODES | {"BAD_USER_INPUT"}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    # One API (and database) for all examples of a test run: they only add data.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def post(
    api: Api,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    token = token or api.token_for(superuser())
    # As a GraphQL-over-HTTP client that asks for the specification's own
    # media type: a document that cannot run is then a 400 (it would be a
    # 200 without data under application/json).
    response = await api.client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/graphql-response+json",
        },
    )
    assert response.status_code < 500, (query, response.text)
    body: dict[str, Any] = response.json()
    codes = [error.get("extensions", {}).get("code") for error in body.get("errors") or []]
    assert all(codes), (query, body)
    assert "INTERNAL_SERVER_ERROR" not in codes, (query, body)
    return response.status_code, body


@FUZZ
@given(query=hg.from_schema(SCHEMA, custom_scalars=SCALARS))
async def test_valid_documents_run_or_meet_a_limit(api: Api, query: str) -> None:
    status, body = await post(api, query)

    if status == 400:
        codes = {error["extensions"]["code"] for error in body["errors"]}
        assert codes <= REFUSED_CODES, (query, body)
    else:
        assert status == 200, (query, body)
        assert "data" in body, (query, body)


@FUZZ
@given(query=hg.from_schema(SCHEMA, custom_scalars=SCALARS, mode=hg.Mode.NEGATIVE))
async def test_documents_violating_the_schema_are_refused(api: Api, query: str) -> None:
    status, body = await post(api, query)

    assert status == 400, (query, body)
    assert body["errors"]
    assert "data" not in body


@FUZZ
@given(data=st.data())
async def test_documents_cut_short_or_garbled_are_refused(api: Api, data: st.DataObject) -> None:
    query = data.draw(hg.from_schema(SCHEMA, custom_scalars=SCALARS)).rstrip()
    cut = data.draw(st.integers(min_value=0, max_value=len(query) - 1))
    # Nothing here can close the braces the cut left open: never a whole document.
    junk = data.draw(st.sampled_from(["", "{", "(", ":", "$", "@", "...", '"', "#", "query"]))

    status, body = await post(api, query[:cut] + junk)

    assert status == 400, (query[:cut] + junk, body)
    assert body["errors"]
    assert "data" not in body


# Hostile shapes (issue 10)

HOSTILE = settings(FUZZ, max_examples=15)
HOSTILE_TOKEN = "hostile-fuzz-token"

CHAIN_TYPES = {
    # The type, where its chain is spread, and what the last fragment selects.
    "User": ("viewer { ...F%d }", "id email roleCodes"),
    "Account": (
        "accounts(first: 10) { edges { node { ...F%d } } }",
        "id balance owner { id }",
    ),
}


def fragment_chain(levels: int, type_name: str = "User", spreads: int = 2) -> str:
    """``F<levels>`` spreads ``F<levels - 1>`` ``spreads`` times, and so on down to ``F0``."""
    spread_at, leaf = CHAIN_TYPES[type_name]
    fragments = [f"fragment F0 on {type_name} {{ {leaf} }}"] + [
        f"fragment F{i} on {type_name} {{ {f' ...F{i - 1}' * spreads} }}"
        for i in range(1, levels + 1)
    ]
    return "{ " + spread_at % levels + " } " + " ".join(fragments)


WIDE_SHAPES = [
    # (the document, with %s where the repeated field goes; the field; most repeats)
    ("{ %s }", "__typename", 2000),
    ("{ %s }", "viewer { id }", 500),
    ("{ %s }", "viewer { email }", 500),
    ("{ viewer { %s } }", "email", 1000),
    ("{ accounts(first: 5) { edges { node { %s } } } }", "balance", 1000),
]


def wide(shape: int, count: int) -> str:
    document, field, _ = WIDE_SHAPES[shape]
    return document % " ".join([field] * count)


@st.composite
def wide_selections(draw: st.DrawFn) -> str:
    shape = draw(st.integers(min_value=0, max_value=len(WIDE_SHAPES) - 1))
    return wide(shape, draw(st.integers(min_value=1, max_value=WIDE_SHAPES[shape][2])))


VARIABLE_DEFAULT_SHAPES = [
    "query($n: Int = %d) { accounts(first: $n) { edges { node {"
    " transfers(first: $n) { edges { node { id amount } } } } } } }",
    "query($n: Int = %d) { a: accounts(first: $n) { edges { node {"
    " owner { roles { policies { resource } } } transfers(last: $n) { totalCount } } } } }",
    "query($n: Int = %d) { users(first: $n) { edges { node { id roles { code } } } }"
    " roles(first: $n) { edges { node { policies { resource } } } } }",
]


def with_default(shape: int, default: int) -> str:
    return VARIABLE_DEFAULT_SHAPES[shape] % default


async def seeded_token(api: Api) -> str:
    """A token for a superuser who exists, with accounts: the first call seeds them."""
    if HOSTILE_TOKEN not in api.actors:
        user_id = await api.register("hostile@example.org")
        for balance in (100, 200, 300):
            await api.open_account(user_id, balance)
        api.actors[HOSTILE_TOKEN] = superuser(user_id)
    return HOSTILE_TOKEN


async def assert_well_formed(
    api: Api, query: str, variables: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """``post``'s checks: an answer that ran (200) or was refused for a limit (400)."""
    token = await seeded_token(api)
    status, body = await post(api, query, variables, token)

    if status == 400:
        codes = {error["extensions"]["code"] for error in body["errors"]}
        assert codes <= REFUSED_CODES, (query[:300], body)
        assert "data" not in body, (query[:300], body)
    else:
        assert status == 200, (query[:300], body)
        assert "data" in body, (query[:300], body)
    return status, body


@HOSTILE
@given(
    levels=st.integers(min_value=1, max_value=40),
    type_name=st.sampled_from(sorted(CHAIN_TYPES)),
    spreads=st.integers(min_value=2, max_value=3),
)
@example(levels=40, type_name="User", spreads=2)
@example(levels=40, type_name="User", spreads=3)
@example(levels=40, type_name="Account", spreads=2)
async def test_fragment_chains_are_answered(
    api: Api, levels: int, type_name: str, spreads: int
) -> None:
    query = fragment_chain(levels, type_name, spreads)

    status, body = await assert_well_formed(api, query)

    if type_name == "User":
        # Each level adds no field and no depth, and scalars cost nothing: the
        # chain runs as ``{ viewer { id email roleCodes } }`` does.
        assert (status, body.get("errors")) == (200, None), (query, body)
        assert body["data"]["viewer"]["email"] == "hostile@example.org"
    elif status == 200:
        assert len(body["data"]["accounts"]["edges"]) == 3, (query, body)
    else:
        # The estimate counts ``owner`` once per spread, spreads**levels times.
        assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COMPLEX"]


async def test_a_chain_estimated_past_64_bits_is_refused_not_a_500(api: Api) -> None:
    """The estimate (about 1.2e20) once reached the JSON encoder and made a 500."""
    query = fragment_chain(40, "Account", 3)

    status, body = await assert_well_formed(api, query)

    assert status == 400
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == 2**53 - 1
    assert error["message"].startswith("The query costs at least")


@HOSTILE
@given(query=wide_selections())
@example(query=wide(0, 1990))
@example(query=wide(0, 2000))
@example(query=wide(1, 490))
@example(query=wide(3, 999))
async def test_wide_selection_sets_are_answered_or_refused(api: Api, query: str) -> None:
    await assert_well_formed(api, query)


@HOSTILE
@given(
    shape=st.integers(min_value=0, max_value=len(VARIABLE_DEFAULT_SHAPES) - 1),
    default=st.integers(min_value=0, max_value=200),
    sent=st.none() | st.integers(min_value=0, max_value=200),
)
@example(shape=0, default=100, sent=None)
@example(shape=0, default=200, sent=None)
@example(shape=0, default=1, sent=100)
@example(shape=1, default=MAX_PAGE_SIZE, sent=None)
async def test_variable_defaults_are_priced_and_answered(
    api: Api, shape: int, default: int, sent: int | None
) -> None:
    query = with_default(shape, default)
    variables = None if sent is None else {"n": sent}

    status, body = await assert_well_formed(api, query, variables)

    # The size that runs is the one sent, or else the default: priced as it.
    size = default if sent is None else sent
    if shape == 0 and min(size, MAX_PAGE_SIZE) > 40:  # 3n + 3n² > 5000 from n = 41
        assert status == 400, (query, variables, body)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COMPLEX"]
