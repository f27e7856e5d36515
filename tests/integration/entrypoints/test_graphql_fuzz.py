"""Fuzzing the API with documents hypothesis-graphql derives from the schema.

Whatever an administrator sends, the server answers without a 5xx and
without an INTERNAL_SERVER_ERROR: valid documents run (or are refused by a
query limit, with its code), invalid ones, whether generated with a schema
violation or cut short, are refused with errors.
"""

from __future__ import annotations

from typing import Any

import hypothesis_graphql as hg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from integration.entrypoints.support import Api
from kingdom.entrypoints.graphql.schema import build_schema
from kingdom.services.fakes import superuser

SCHEMA = build_schema()
SCALARS = {
    # Inline values the scalars accept: hypothesis-graphql only knows their names.
    "Amount": st.one_of(
        st.integers(min_value=-(2**40), max_value=2**40).map(nodes.Int),
        st.integers(min_value=0, max_value=2**40).map(nodes.String),
    ),
    "DateTime": st.datetimes().map(lambda moment: nodes.String(f"{moment.isoformat()}Z")),
}
LIMIT_CODES = {"QUERY_TOO_DEEP", "QUERY_TOO_COMPLEX", "TOO_MANY_ALIASES", "TOO_MANY_TOKENS"}
# A schema-valid document may still carry text the server refuses (NUL).
REFUSED_CODES = LIMIT_CODES | {"BAD_USER_INPUT"}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    # One API (and database) for all examples of a test run: they only add data.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def post(api: Api, query: str) -> tuple[int, dict[str, Any]]:
    token = api.token_for(superuser())
    response = await api.client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
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
