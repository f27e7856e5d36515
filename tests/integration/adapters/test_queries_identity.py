"""User and role listings: keyset pages in both directions, scoped in SQL."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert

from integration.adapters.paging import assert_walk, recording_statements, walk
from integration.adapters.schema import create_schema
from kingdom.adapters.identity.queries import SqlRoleQueries, SqlUserQueries
from kingdom.adapters.identity.tables import roles, user_roles, users
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.domain.access import Permission, Policy, ReadScope
from kingdom.domain.identity import UserStatus
from kingdom.domain.shared import Invalid
from kingdom.services.ports.queries import MAX_PAGE_SIZE, Page, PageRequest

CODEC = CursorCodec(b"identity-test-key-0123456789abcd")
USER_COUNT = 57
ROLE_CODES = tuple(f"role-{n:02d}" for n in (7, 3, 11, 0, 9, 5, 1, 10, 2, 8, 4, 6))


@dataclass(frozen=True)
class Directory:
    database: Database
    users: list[dict[str, Any]]
    held: dict[str, list[str]]  # user id -> role codes
    statements: list[str]


@pytest.fixture()
async def directory(database_url: str) -> AsyncIterator[Directory]:
    rng = random.Random(57)
    database = create_database(database_url)
    await create_schema(database)
    user_rows: list[dict[str, Any]] = []
    for n in range(USER_COUNT):
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        user_rows.append(
            {
                "id": user_id,
                # Shuffled names: e-mail order is neither id nor insertion order.
                "email": f"{rng.choice('abcdefgh')}{n:02d}@example.com",
                "display_name": f"User {n}",
                "status": "disabled" if n % 10 == 0 else "active",
                "password_hash": "$argon2id$secret",
                "policies": (
                    {Policy.of("accounts", Permission.READ, f"acc-{n}")} if n % 2 else set()
                ),
                "token_version": n,
                "version": 1 + n % 3,
            }
        )
    held: dict[str, list[str]] = {
        row["id"]: sorted(rng.sample(ROLE_CODES, k=n % 4)) for n, row in enumerate(user_rows)
    }
    async with database.writer.begin() as connection:
        await connection.execute(
            insert(roles),
            [
                {
                    "id": code,
                    "name": f"Role {code}",
                    "policies": {Policy.of("users", Permission.READ)},
                    "version": 1,
                }
                for code in ROLE_CODES
            ],
        )
        await connection.execute(insert(users), user_rows)
        await connection.execute(
            insert(user_roles),
            [{"user_id": u, "role_code": code} for u, codes in held.items() for code in codes],
        )
    try:
        with recording_statements(database.engine) as statements:
            yield Directory(database, user_rows, held, statements)
    finally:
        await database.dispose()


async def test_users_walk_by_email_in_both_directions_under_a_scope(directory: Directory) -> None:
    queries = SqlUserQueries(directory.database, CODEC)
    by_email = [row["id"] for row in sorted(directory.users, key=lambda r: (r["email"], r["id"]))]
    scopes = [
        ReadScope.everything(),
        ReadScope(all=False, ids=frozenset(by_email[::4]) | {"not-a-user"}),
        ReadScope(all=False, ids=frozenset(by_email[-1:])),
        # A user owns itself: an "@own" scope is that user (and the ids, if any).
        ReadScope.owned_by(by_email[5]),
        ReadScope(all=False, ids=frozenset(by_email[::7]), owner=by_email[3]),
        ReadScope.owned_by("not-a-user"),
    ]
    for scope in scopes:
        expected = [user_id for user_id in by_email if scope.allows(user_id, user_id)]
        for size in (1, 6, 10, USER_COUNT, MAX_PAGE_SIZE):

            def list_page(request: PageRequest, scope: ReadScope = scope) -> Awaitable[Page[Any]]:
                return queries.list(scope, request)

            for forward in (True, False):
                pages = await walk(list_page, size, forward=forward)
                assert_walk(pages, expected, size, lambda user: user.id, forward=forward)


async def test_user_views_carry_roles_and_policies_but_no_secrets(directory: Directory) -> None:
    queries = SqlUserQueries(directory.database, CODEC)
    views = {
        view.id: view
        for page in await walk(
            lambda r: queries.list(ReadScope.everything(), r), MAX_PAGE_SIZE, forward=True
        )
        for view in page.items
    }
    for n, row in enumerate(directory.users):
        view = views[row["id"]]
        assert view.email == row["email"]
        assert view.display_name == row["display_name"]
        assert view.status is UserStatus(row["status"])
        assert view.role_codes == tuple(directory.held[row["id"]])
        assert view.policies == tuple(row["policies"])
        assert view.version == row["version"]
        assert not hasattr(view, "password_hash")
        assert n % 4 != 0 or view.role_codes == ()


async def test_user_batch_lookup_honours_the_scope(directory: Directory) -> None:
    queries = SqlUserQueries(directory.database, CODEC)
    ids = [row["id"] for row in directory.users]
    scope = ReadScope(all=False, ids=frozenset(ids[:3]))
    found = await queries.by_ids(scope, [ids[1], ids[2], ids[5], "nobody", ids[1]])
    assert set(found) == {ids[1], ids[2]}
    assert found[ids[2]].role_codes == tuple(directory.held[ids[2]])
    directory.statements.clear()
    assert await queries.by_ids(scope, [ids[5], "nobody"]) == {}
    assert await queries.by_ids(ReadScope.nothing(), ids) == {}
    assert directory.statements == []  # nothing in scope: nothing to ask the database
    assert set(await queries.by_ids(ReadScope.everything(), ids)) == set(ids)


async def test_user_batch_lookup_with_an_owner_finds_that_user(directory: Directory) -> None:
    queries = SqlUserQueries(directory.database, CODEC)
    ids = [row["id"] for row in directory.users]
    found = await queries.by_ids(ReadScope.owned_by(ids[4]), ids)
    assert set(found) == {ids[4]}
    assert found[ids[4]].role_codes == tuple(directory.held[ids[4]])
    both = await queries.by_ids(ReadScope(all=False, ids=frozenset(ids[:1]), owner=ids[4]), ids)
    assert set(both) == {ids[0], ids[4]}


async def test_roles_belong_to_nobody_so_an_owner_scope_reads_none(directory: Directory) -> None:
    queries = SqlRoleQueries(directory.database, CODEC)
    codes = sorted(ROLE_CODES)
    directory.statements.clear()
    assert await queries.list(ReadScope.owned_by("anyone"), PageRequest.first(10)) == Page.empty()
    assert await queries.by_ids(ReadScope.owned_by("anyone"), codes) == {}
    assert directory.statements == []  # nothing can be in scope: nothing asked
    mixed = ReadScope(all=False, ids=frozenset(codes[:2]), owner="anyone")
    assert set(await queries.by_ids(mixed, codes)) == set(codes[:2])
    page = await queries.list(mixed, PageRequest.first(10))
    assert [role.code for role in page.items] == codes[:2]


async def test_roles_walk_by_code_in_both_directions(directory: Directory) -> None:
    queries = SqlRoleQueries(directory.database, CODEC)
    codes = sorted(ROLE_CODES)
    for scope in (ReadScope.everything(), ReadScope(all=False, ids=frozenset(codes[1::2]))):
        expected = [code for code in codes if scope.allows(code)]
        for size in (1, 5, MAX_PAGE_SIZE):

            def list_page(request: PageRequest, scope: ReadScope = scope) -> Awaitable[Page[Any]]:
                return queries.list(scope, request)

            for forward in (True, False):
                pages = await walk(list_page, size, forward=forward)
                assert_walk(pages, expected, size, lambda role: role.code, forward=forward)
    role = (await queries.by_ids(ReadScope.everything(), ["role-03"]))["role-03"]
    assert (role.name, role.policies, role.version) == (
        "Role role-03",
        (Policy.of("users", Permission.READ),),
        1,
    )


async def test_denied_scopes_give_empty_pages_without_querying(directory: Directory) -> None:
    users_q = SqlUserQueries(directory.database, CODEC)
    roles_q = SqlRoleQueries(directory.database, CODEC)
    directory.statements.clear()
    for request in (PageRequest.first(10), PageRequest.last(10)):
        assert await users_q.list(ReadScope.nothing(), request) == Page.empty()
        assert await roles_q.list(ReadScope.nothing(), request) == Page.empty()
    assert directory.statements == []


async def test_cursors_do_not_cross_listings_or_survive_tampering(directory: Directory) -> None:
    users_q = SqlUserQueries(directory.database, CODEC)
    roles_q = SqlRoleQueries(directory.database, CODEC)
    everything = ReadScope.everything()
    user_cursor = (await users_q.list(everything, PageRequest.first(2))).end_cursor
    role_cursor = (await roles_q.list(everything, PageRequest.first(2))).end_cursor
    assert user_cursor is not None
    assert role_cursor is not None
    with pytest.raises(Invalid):
        await users_q.list(everything, PageRequest.first(2, role_cursor))
    with pytest.raises(Invalid):
        await roles_q.list(everything, PageRequest.last(2, user_cursor))
    body, mac = user_cursor.split(".")
    with pytest.raises(Invalid):
        await users_q.list(everything, PageRequest.first(2, f"{body}x.{mac}"))
    other_key = SqlUserQueries(directory.database, CursorCodec(b"z" * 32))
    with pytest.raises(Invalid):
        await other_key.list(everything, PageRequest.first(2, user_cursor))
