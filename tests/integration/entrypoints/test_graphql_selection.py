"""Reads follow the selection: no role codes or totals are fetched that nobody shows."""

from __future__ import annotations

from integration.entrypoints.support import Api, counting_statements
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import AssignRole, CreateRole
from kingdom.services.fakes import superuser

READ_ALL = (
    Policy.of("accounts", Permission.READ),
    Policy.of("users", Permission.READ),
    Policy.of("roles", Permission.READ),
)


async def _teller(api: Api) -> str:
    user_id = await api.register("teller@example.org", "Teller")
    await api.bus.handle(
        CreateRole(meta=api.meta(), actor=superuser(), code="teller", name="Teller", policies=())
    )
    await api.bus.handle(
        AssignRole(meta=api.meta(), actor=superuser(), user_id=user_id, role_code="teller")
    )
    await api.open_account(user_id)
    return user_id


def _reads_roles(statements: list[str]) -> bool:
    return any("user_roles" in statement for statement in statements)


def _counts(statements: list[str]) -> bool:
    return any("count(" in statement.lower() for statement in statements)


async def test_the_viewer_reads_role_codes_only_when_they_are_selected(api: Api) -> None:
    token = api.token_with(*READ_ALL, user_id=await _teller(api))

    async with counting_statements(api) as plain:
        bare = await api.ok("{ viewer { email } }", token=token)
    async with counting_statements(api) as via_fragment:
        full = await api.ok(
            "{ viewer { ...F } } fragment F on User { ... on User { roleCodes } }", token=token
        )
    async with counting_statements(api) as via_roles:
        roles = await api.ok("{ viewer { roles { code } } }", token=token)

    assert bare == {"viewer": {"email": "teller@example.org"}}
    assert full == {"viewer": {"roleCodes": ["teller"]}}
    assert roles == {"viewer": {"roles": [{"code": "teller"}]}}
    assert not _reads_roles(plain)
    assert _reads_roles(via_fragment)
    assert _reads_roles(via_roles)


async def test_users_loaded_without_roles_are_not_served_to_a_field_that_shows_them(
    api: Api,
) -> None:
    token = api.token_with(*READ_ALL, user_id=await _teller(api))
    both = await api.ok("{ a: viewer { email } b: viewer { roleCodes } }", token=token)
    assert both == {"a": {"email": "teller@example.org"}, "b": {"roleCodes": ["teller"]}}


async def test_owners_and_user_pages_read_roles_only_when_selected(api: Api) -> None:
    token = api.token_with(*READ_ALL)
    await _teller(api)

    async with counting_statements(api) as plain:
        await api.ok("{ accounts { edges { node { owner { email } } } } }", token=token)
    async with counting_statements(api) as shown:
        owners = await api.ok(
            "{ accounts { edges { node { owner { roleCodes } } } } }", token=token
        )
    async with counting_statements(api) as page_plain:
        await api.ok("{ users { edges { node { email } } } }", token=token)
    async with counting_statements(api) as page_shown:
        users = await api.ok("{ users { edges { node { roleCodes } } } }", token=token)

    assert owners["accounts"]["edges"] == [{"node": {"owner": {"roleCodes": ["teller"]}}}]
    assert users["users"]["edges"] == [{"node": {"roleCodes": ["teller"]}}]
    assert not _reads_roles(plain)
    assert not _reads_roles(page_plain)
    assert _reads_roles(shown)
    assert _reads_roles(page_shown)


async def test_connections_count_only_when_total_count_is_selected(api: Api) -> None:
    token = api.token_with(*READ_ALL)
    await _teller(api)
    for listing in ("accounts", "users", "roles"):
        async with counting_statements(api) as uncounted:
            await api.ok(f"{{ {listing} {{ edges {{ cursor }} }} }}", token=token)
        async with counting_statements(api) as counted:
            result = await api.ok(f"{{ {listing} {{ totalCount }} }}", token=token)
        assert result == {listing: {"totalCount": 1}}
        assert not _counts(uncounted), listing
        assert _counts(counted), listing


async def test_page_info_cursors_still_walk_when_edge_cursors_are_not_selected(api: Api) -> None:
    token = api.token_with(*READ_ALL)
    for n in range(3):
        await api.open_account(await api.register(f"walker-{n}@example.org"))
    query = """query($after: String) {
      accounts(first: 2, after: $after) {
        edges { node { id } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    first = (await api.ok(query, {"after": None}, token=token))["accounts"]
    second = await api.ok(query, {"after": first["pageInfo"]["endCursor"]}, token=token)
    with_cursors = await api.ok("{ accounts(first: 3) { edges { cursor } } }", token=token)

    assert first["pageInfo"]["hasNextPage"]
    assert len(first["edges"]) == 2
    assert len(second["accounts"]["edges"]) == 1
    assert not second["accounts"]["pageInfo"]["hasNextPage"]
    assert all(edge["cursor"] for edge in with_cursors["accounts"]["edges"])


async def test_each_page_info_cursor_is_there_when_asked_alone(api: Api) -> None:
    token = api.token_with(*READ_ALL)
    for n in range(3):
        await api.open_account(await api.register(f"ends-{n}@example.org"))
    everything = """{ accounts(first: 2) {
      edges { cursor } pageInfo { startCursor endCursor } } }"""
    full = (await api.ok(everything, token=token))["accounts"]
    start = await api.ok("{ accounts(first: 2) { pageInfo { startCursor } } }", token=token)
    end = await api.ok(
        "query { accounts(first: 2) { ...Ends } } fragment Ends on AccountConnection "
        "{ pageInfo { endCursor } }",
        token=token,
    )
    assert start["accounts"]["pageInfo"]["startCursor"] == full["edges"][0]["cursor"]
    assert end["accounts"]["pageInfo"]["endCursor"] == full["edges"][1]["cursor"]
    assert full["pageInfo"] == {
        "startCursor": full["edges"][0]["cursor"],
        "endCursor": full["edges"][1]["cursor"],
    }
