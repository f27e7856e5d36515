"""Account and transfer listings: keyset pages in both directions, scoped in SQL."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, or_

from integration.adapters.paging import assert_walk, recording_statements, walk
from integration.adapters.schema import create_schema
from kingdom.adapters.identity.tables import users
from kingdom.adapters.ledger.queries import SqlAccountQueries, SqlTransferQueries
from kingdom.adapters.ledger.tables import accounts, transfers
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.domain.access import ReadScope
from kingdom.domain.shared import Invalid
from kingdom.services.ports.queries import MAX_PAGE_SIZE, Page, PageRequest

CODEC = CursorCodec(b"ledger-test-key-" * 2)
OWNERS = ("owner-a", "owner-b", "owner-c")
ACCOUNT_COUNT = 33
TRANSFER_COUNT = 47
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Ledger:
    database: Database
    accounts: list[dict[str, Any]]  # as inserted
    transfers: list[dict[str, Any]]
    statements: list[str]  # SQL run on the read engine since seeding


def _ids(rng: random.Random, count: int) -> list[str]:
    # Random UUIDs: insertion order has nothing to do with sort order.
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


@pytest.fixture()
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    rng = random.Random(4)
    database = create_database(database_url)
    await create_schema(database)
    account_rows = [
        {
            "id": account_id,
            "owner_id": OWNERS[n % len(OWNERS)],
            "currency": "EUR",
            "balance": 1000 + n,
            "status": "open",
            "version": 1,
        }
        for n, account_id in enumerate(_ids(rng, ACCOUNT_COUNT))
    ]
    transfer_rows = []
    for n, transfer_id in enumerate(_ids(rng, TRANSFER_COUNT)):
        source, target = rng.sample(account_rows, 2)
        transfer_rows.append(
            {
                "id": transfer_id,
                "source_id": source["id"],
                "target_id": target["id"],
                "amount": 1 + n,
                "currency": "EUR",
                # Several transfers share an instant: the id must break the tie.
                "occurred_at": START + timedelta(seconds=n // 4),
            }
        )
    async with database.writer.begin() as connection:
        await connection.execute(
            insert(users),
            [
                {
                    "id": owner,
                    "email": f"{owner}@example.com",
                    "display_name": owner,
                    "status": "active",
                    "password_hash": "x",
                    "policies": set(),
                    "version": 1,
                }
                for owner in OWNERS
            ],
        )
        await connection.execute(insert(accounts), account_rows)
        await connection.execute(insert(transfers), transfer_rows)
    try:
        with recording_statements(database.engine) as statements:
            yield Ledger(database, account_rows, transfer_rows, statements)
    finally:
        await database.dispose()


def account_scopes(ledger: Ledger) -> list[ReadScope]:
    ids = sorted(row["id"] for row in ledger.accounts)
    return [
        ReadScope.everything(),
        ReadScope(all=False, ids=frozenset(ids[::3]) | {"no-such-account"}),
        ReadScope(all=False, ids=frozenset({ids[7]})),
        ReadScope(all=False, ids=frozenset({"no-such-account"})),
        # "@own" grants: an owner's accounts (owner_id = :owner), alone or with ids.
        *(ReadScope.owned_by(owner) for owner in OWNERS),
        ReadScope(all=False, ids=frozenset(ids[::5]), owner=OWNERS[1]),
        ReadScope.owned_by("owns-nothing"),
    ]


def owner_of(ledger: Ledger) -> dict[str, str]:
    return {row["id"]: row["owner_id"] for row in ledger.accounts}


async def test_accounts_walk_forward_and_backward_visit_every_row_once(ledger: Ledger) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    for scope in account_scopes(ledger):
        expected = sorted(
            row["id"] for row in ledger.accounts if scope.allows(row["id"], row["owner_id"])
        )
        for size in (1, 4, 11, ACCOUNT_COUNT, MAX_PAGE_SIZE):

            def list_page(request: PageRequest, scope: ReadScope = scope) -> Awaitable[Page[Any]]:
                return queries.list(scope, request)

            for forward in (True, False):
                pages = await walk(list_page, size, forward=forward)
                assert_walk(pages, expected, size, forward=forward)


async def test_account_views_carry_the_row(ledger: Ledger) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    page = await queries.list(ReadScope.everything(), PageRequest(MAX_PAGE_SIZE, count_total=False))
    by_id = {row["id"]: row for row in ledger.accounts}
    for view in page.items:
        row = by_id[view.id]
        assert (view.owner_id, view.currency, view.balance, view.status, view.version) == (
            row["owner_id"],
            "EUR",
            row["balance"],
            "open",
            1,
        )
    assert page.total is None  # no count unless the request asks for one


async def test_turning_back_from_the_middle_returns_the_page_before(ledger: Ledger) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    everything = ReadScope.everything()
    first = await queries.list(everything, PageRequest.first(5))
    second = await queries.list(everything, PageRequest.first(5, first.end_cursor))
    third = await queries.list(everything, PageRequest.first(5, second.end_cursor))
    assert (second.has_next, second.has_previous) == (True, True)

    back = await queries.list(everything, PageRequest.last(5, third.start_cursor))
    assert back.items == second.items
    assert (back.has_next, back.has_previous) == (True, True)
    before_first = await queries.list(everything, PageRequest.last(5, first.start_cursor))
    assert (before_first.items, before_first.has_next, before_first.has_previous) == (
        (),
        True,
        False,
    )
    short = await queries.list(everything, PageRequest.last(3, second.start_cursor))
    assert short.items == first.items[2:]
    assert (short.has_next, short.has_previous) == (True, True)


async def test_a_cursor_stays_valid_when_its_row_goes_and_rows_appear_before_it(
    ledger: Ledger,
) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    everything = ReadScope.everything()
    ordered = sorted(row["id"] for row in ledger.accounts)
    first = await queries.list(everything, PageRequest.first(10))
    gone = first.items[-1].id
    async with ledger.database.writer.begin() as connection:
        await connection.execute(
            delete(transfers).where(
                or_(transfers.c.source_id == gone, transfers.c.target_id == gone)
            )
        )
        await connection.execute(delete(accounts).where(accounts.c.id == gone))
        await connection.execute(
            insert(accounts),
            {**ledger.accounts[0], "id": "00000000-0000-4000-8000-000000000000"},
        )
    second = await queries.list(everything, PageRequest.first(10, first.end_cursor))
    assert [view.id for view in second.items] == ordered[10:20]
    assert second.has_previous


async def test_a_denied_scope_gives_an_empty_page_without_querying(ledger: Ledger) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    transfers_q = SqlTransferQueries(ledger.database, CODEC)
    denied = ReadScope.nothing()
    ledger.statements.clear()
    assert await queries.list(denied, PageRequest.first(10)) == Page.empty()
    assert await queries.list(denied, PageRequest.last(10)) == Page.empty()
    assert await transfers_q.list(denied, PageRequest.first(10)) == Page.empty()
    some_account = ledger.accounts[0]["id"]
    assert await transfers_q.list(denied, PageRequest.first(10), some_account) == Page.empty()
    assert await queries.by_ids(denied, [some_account]) == {}
    assert ledger.statements == []


async def test_tampered_and_foreign_cursors_are_invalid(ledger: Ledger) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    transfers_q = SqlTransferQueries(ledger.database, CODEC)
    everything = ReadScope.everything()
    page = await queries.list(everything, PageRequest.first(3))
    cursor = page.end_cursor
    assert cursor is not None
    body, mac = cursor.split(".")
    tampered = [
        f"{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{mac}",
        f"{body}.{mac[::-1]}",
        CursorCodec(b"another-key-entirely-0123456789!").encode("accounts", ("x",)),
        "definitely-not-a-cursor",
    ]
    transfer_page = await transfers_q.list(everything, PageRequest.first(3))
    assert transfer_page.end_cursor is not None
    foreign = [transfer_page.end_cursor]
    ledger.statements.clear()
    for bad in tampered + foreign:
        for request in (PageRequest.first(3, bad), PageRequest.last(3, bad)):
            with pytest.raises(Invalid):
                await queries.list(everything, request)
            with pytest.raises(Invalid):  # also when the scope would short-circuit
                await queries.list(ReadScope.nothing(), request)
    with pytest.raises(Invalid):
        await transfers_q.list(everything, PageRequest.first(3, cursor))
    assert ledger.statements == []  # refused before any I/O


async def test_by_ids_returns_only_rows_in_scope(ledger: Ledger) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    ids = [row["id"] for row in ledger.accounts]
    scope = ReadScope(all=False, ids=frozenset(ids[:5]))
    asked = [ids[0], ids[3], ids[9], "no-such-account", ids[0]]
    found = await queries.by_ids(scope, asked)
    assert set(found) == {ids[0], ids[3]}
    assert found[ids[3]].id == ids[3]
    everything = await queries.by_ids(ReadScope.everything(), asked)
    assert set(everything) == {ids[0], ids[3], ids[9]}
    assert await queries.by_ids(ReadScope.everything(), []) == {}


async def test_by_ids_with_an_owner_returns_the_owners_rows_and_the_ids_in_scope(
    ledger: Ledger,
) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    owners = owner_of(ledger)
    ids = [row["id"] for row in ledger.accounts]
    scope = ReadScope(all=False, ids=frozenset(ids[:2]), owner=OWNERS[2])
    asked = [*ids, "no-such-account"]

    found = await queries.by_ids(scope, asked)

    assert set(found) == {i for i in ids if i in ids[:2] or owners[i] == OWNERS[2]}
    assert set(await queries.by_ids(ReadScope.owned_by("owns-nothing"), asked)) == set()


async def test_transfers_by_ids_show_those_touching_an_owners_accounts(ledger: Ledger) -> None:
    queries = SqlTransferQueries(ledger.database, CODEC)
    owners = owner_of(ledger)
    asked = [row["id"] for row in ledger.transfers]

    found = await queries.by_ids(ReadScope.owned_by(OWNERS[0]), asked)

    assert set(found) == {
        row["id"]
        for row in ledger.transfers
        if OWNERS[0] in (owners[row["source_id"]], owners[row["target_id"]])
    }


def test_page_sizes_are_bounded_by_the_page_request() -> None:
    for bad in (0, -1, MAX_PAGE_SIZE + 1, True):
        with pytest.raises(Invalid):
            PageRequest.first(bad)
    with pytest.raises(Invalid):
        PageRequest.first(10, "")


async def test_a_full_size_page_holds_max_page_size_rows(ledger: Ledger) -> None:
    queries = SqlTransferQueries(ledger.database, CODEC)
    page = await queries.list(ReadScope.everything(), PageRequest.first(MAX_PAGE_SIZE))
    assert len(page.items) == TRANSFER_COUNT
    assert not page.has_next


def visible_transfers(ledger: Ledger, scope: ReadScope, account: str | None) -> list[str]:
    """The model: newest first, ties by id descending; either side in scope."""
    owners = owner_of(ledger)

    def visible(account_id: str) -> bool:
        return scope.allows(account_id, owners[account_id])

    rows = [
        row
        for row in ledger.transfers
        if (visible(row["source_id"]) or visible(row["target_id"]))
        and (account is None or account in (row["source_id"], row["target_id"]))
    ]
    rows.sort(key=lambda row: (row["occurred_at"], row["id"]), reverse=True)
    return [row["id"] for row in rows]


async def test_transfer_walks_newest_first_under_every_scope_and_filter(ledger: Ledger) -> None:
    queries = SqlTransferQueries(ledger.database, CODEC)
    busiest = max(
        (row["id"] for row in ledger.accounts),
        key=lambda a: sum(a in (t["source_id"], t["target_id"]) for t in ledger.transfers),
    )
    scopes = [*account_scopes(ledger), ReadScope(all=False, ids=frozenset({busiest}))]
    for scope in scopes:
        for account in (None, busiest):
            expected = visible_transfers(ledger, scope, account)
            for size in (1, 5, 13, MAX_PAGE_SIZE):

                def list_page(
                    request: PageRequest, scope: ReadScope = scope, account: str | None = account
                ) -> Awaitable[Page[Any]]:
                    return queries.list(scope, request, account)

                for forward in (True, False):
                    pages = await walk(list_page, size, forward=forward)
                    assert_walk(pages, expected, size, forward=forward)


async def test_transfer_views_carry_aware_utc_times(ledger: Ledger) -> None:
    queries = SqlTransferQueries(ledger.database, CODEC)
    page = await queries.list(ReadScope.everything(), PageRequest.first(3))
    newest = max(ledger.transfers, key=lambda row: (row["occurred_at"], row["id"]))
    view = page.items[0]
    assert (view.id, view.source_id, view.target_id, view.amount, view.currency) == (
        newest["id"],
        newest["source_id"],
        newest["target_id"],
        newest["amount"],
        "EUR",
    )
    assert view.occurred_at == newest["occurred_at"]
    assert view.occurred_at.utcoffset() == timedelta(0)


async def test_a_cursor_of_one_accounts_history_is_refused_by_another(ledger: Ledger) -> None:
    queries = SqlTransferQueries(ledger.database, CODEC)
    everything = ReadScope.everything()
    one, other = ledger.transfers[0]["source_id"], ledger.transfers[0]["target_id"]
    page = await queries.list(everything, PageRequest.first(1), one)
    assert page.end_cursor is not None
    with pytest.raises(Invalid):
        await queries.list(everything, PageRequest.first(1, page.end_cursor), other)
    with pytest.raises(Invalid):
        await queries.list(everything, PageRequest.first(1, page.end_cursor))


async def test_no_statement_uses_offset(ledger: Ledger) -> None:
    queries = SqlAccountQueries(ledger.database, CODEC)
    transfers_q = SqlTransferQueries(ledger.database, CODEC)
    ids = frozenset(row["id"] for row in ledger.accounts[:9])
    ledger.statements.clear()
    for scope in (ReadScope.everything(), ReadScope(all=False, ids=ids)):

        def list_accounts(request: PageRequest, scope: ReadScope = scope) -> Awaitable[Page[Any]]:
            return queries.list(scope, request)

        def list_transfers(request: PageRequest, scope: ReadScope = scope) -> Awaitable[Page[Any]]:
            return transfers_q.list(scope, request)

        for forward in (True, False):
            await walk(list_accounts, 4, forward=forward)
            await walk(list_transfers, 4, forward=forward)
    assert ledger.statements
    for statement in ledger.statements:
        if ledger.database.dialect == "sqlite":
            # SQLAlchemy's SQLite compiler always writes "LIMIT ? OFFSET ?" with
            # an offset of 0; the pages never set one.
            assert statement.count("OFFSET") == statement.count("LIMIT")
        else:
            assert "OFFSET" not in statement.upper()
