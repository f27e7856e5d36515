"""The SQL unit of work: versions, atomic commits with outbox rows, translated failures."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from integration.adapters.support import count, outbox_rows, schema_database
from kingdom.adapters.identity.tables import users
from kingdom.adapters.ledger.tables import accounts, transfers
from kingdom.adapters.sql.engine import Database, Isolation
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.identity import User
from kingdom.domain.ledger import Account, transfer
from kingdom.domain.shared import Conflict, MessageMeta
from kingdom.services.ports import ConcurrencyConflict

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def meta() -> MessageMeta:
    return MessageMeta(message_id=f"m-{next(_ids)}", occurred_at=NOW)


async def arrange(database: Database, balance: int = 100) -> None:
    """User u-1 owning two EUR accounts; acc-1 holds ``balance``."""
    async with SqlUnitOfWork(database) as uow:
        await uow.users.add(
            User.register(
                id="u-1",
                email="ann@example.org",
                display_name="Ann",
                password_hash="h",
                meta=meta(),
            )
        )
        for account_id in ("acc-1", "acc-2"):
            await uow.accounts.add(
                Account.open(id=account_id, owner_id="u-1", currency="EUR", meta=meta())
            )
        await uow.commit()
    if balance:
        async with SqlUnitOfWork(database) as uow:
            (await uow.accounts.get("acc-1")).deposit(balance, meta())
            await uow.commit()


async def stored_account(database: Database, account_id: str) -> tuple[int, int]:
    async with database.engine.connect() as connection:
        row = (
            await connection.execute(
                select(accounts.c.balance, accounts.c.version).where(accounts.c.id == account_id)
            )
        ).one()
    return row.balance, row.version


async def test_only_changed_aggregates_are_written_each_once(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=0)
        async with SqlUnitOfWork(database) as uow:
            changed = await uow.accounts.get("acc-1")
            read_only = await uow.accounts.get("acc-2")
            user = await uow.users.get("u-1")
            user.policies = set(user.policies)  # an equal value is no change
            changed.deposit(5, meta())
            changed.deposit(6, meta())
            await uow.commit()
            assert (changed.version, read_only.version, user.version) == (2, 1, 1)

        assert await stored_account(database, "acc-1") == (11, 2)
        assert await stored_account(database, "acc-2") == (0, 1)


async def test_a_commit_writes_one_outbox_row_per_event(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=100)
        async with SqlUnitOfWork(database) as uow:
            source = await uow.accounts.get("acc-1")
            target = await uow.accounts.get("acc-2")
            events_before = len(await outbox_rows(database))
            first = meta()
            await uow.transfers.add(
                transfer(id="t-1", source=source, target=target, amount=30, meta=first)
            )
            source.withdraw(20, meta())
            await uow.commit()
            committed = uow.collect_new_events()

        rows = (await outbox_rows(database))[events_before:]
        assert [row["event_type"] for row in rows] == [
            "ledger.TransferCompleted",
            "ledger.FundsWithdrawn",
        ]
        assert [row["message_id"] for row in rows] == [e.message_id for e in committed]
        assert rows[0]["message_id"] == first.message_id
        assert {(r["aggregate_type"], r["aggregate_id"], r["aggregate_version"]) for r in rows} == {
            ("account", "acc-1", 3)
        }
        assert all(r["occurred_at"] == NOW and r["published_at"] is None for r in rows)
        assert rows[1]["payload"]["balance"] == 50
        assert await count(database, transfers) == 1


async def test_leaving_without_commit_writes_nothing(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=10)
        rows_before = len(await outbox_rows(database))
        async with SqlUnitOfWork(database) as uow:
            loaded = await uow.accounts.get("acc-1")
            loaded.deposit(5, meta())
            await uow.accounts.add(
                Account.open(id="acc-3", owner_id="u-1", currency="EUR", meta=meta())
            )

        assert uow.collect_new_events() == []
        assert (loaded.balance, loaded.version) == (15, 2)  # detached, but still readable
        assert uow.accounts.seen == ()  # the next block starts afresh
        assert await stored_account(database, "acc-1") == (10, 2)
        assert await count(database, accounts) == 2
        assert len(await outbox_rows(database)) == rows_before


async def test_a_stale_version_is_a_concurrency_conflict_and_writes_nothing(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=10)
        async with SqlUnitOfWork(database) as uow:
            account = await uow.accounts.get("acc-1")
            # Someone else's committed change, simulated inside this transaction
            # (SQLite admits one writer at a time, so it cannot come from outside).
            await uow.session.execute(
                update(accounts)
                .where(accounts.c.id == "acc-1")
                .values(version=accounts.c.version + 1)
            )
            account.deposit(5, meta())
            rows_before = len(await outbox_rows(database))
            with pytest.raises(ConcurrencyConflict, match="stale"):
                await uow.commit()
            assert account.version == 2  # as loaded: the failed commit bumped nothing
            assert account.balance == 15  # still readable, as the handler left it

        assert uow.collect_new_events() == []
        assert await stored_account(database, "acc-1") == (10, 2)
        assert len(await outbox_rows(database)) == rows_before


async def test_a_duplicate_insert_is_a_concurrency_conflict(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=0)
        async with SqlUnitOfWork(database) as uow:
            twin = User.register(
                id="u-2",
                email="ann@example.org",
                display_name="Twin",
                password_hash="h",
                meta=meta(),
            )
            await uow.users.add(twin)
            with pytest.raises(ConcurrencyConflict, match="unique|UNIQUE"):
                await uow.commit()
            assert twin.version == 0
        async with SqlUnitOfWork(database) as uow:
            await uow.accounts.add(
                Account.open(id="acc-1", owner_id="u-1", currency="EUR", meta=meta())
            )
            with pytest.raises(ConcurrencyConflict):
                await uow.commit()
        assert await count(database, users) == 1


async def test_the_check_constraint_backs_the_non_negative_balance(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=10)
        with pytest.raises(IntegrityError):
            async with database.writer.begin() as connection:
                await connection.execute(
                    update(accounts).where(accounts.c.id == "acc-1").values(balance=-1)
                )

        async with SqlUnitOfWork(database) as uow:
            account = await uow.accounts.get("acc-1")
            account.balance = -5  # bypassing the domain: only the database can stop it now
            with pytest.raises(Conflict, match="(?i)check") as refused:
                await uow.commit()
            assert not isinstance(refused.value, ConcurrencyConflict)  # not worth a retry

        assert await stored_account(database, "acc-1") == (10, 2)


async def test_a_second_commit_in_one_block_writes_only_the_new_changes(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=0)
        async with SqlUnitOfWork(database) as uow:
            account = await uow.accounts.get("acc-1")
            account.deposit(1, meta())
            await uow.commit()
            await uow.commit()  # nothing changed since
            account.deposit(2, meta())
            await uow.commit()
            assert account.version == 3
        assert await stored_account(database, "acc-1") == (3, 3)
        assert [r["aggregate_version"] for r in await outbox_rows(database)][-2:] == [2, 3]


@pytest.mark.parametrize("isolation", [Isolation.REPEATABLE_READ, Isolation.READ_COMMITTED])
async def test_postgres_concurrent_writers_conflict_instead_of_losing_an_update(
    postgres_url: str, isolation: Isolation
) -> None:
    """Two transactions load the same version; the second to write loses (both ways it can)."""
    from integration.databases import fresh_postgres

    async with fresh_postgres(postgres_url) as url, schema_database(url, isolation) as database:
        await arrange(database, balance=10)
        first, second = SqlUnitOfWork(database), SqlUnitOfWork(database)
        async with first, second:
            mine = await first.accounts.get("acc-1")
            theirs = await second.accounts.get("acc-1")
            theirs.deposit(1, meta())
            await second.commit()
            mine.deposit(100, meta())
            with pytest.raises(ConcurrencyConflict):
                await first.commit()

        assert await stored_account(database, "acc-1") == (11, 3)
        async with database.engine.connect() as connection:
            kinds: list[str] = list(
                (await connection.execute(select(outbox.c.event_type))).scalars()
            )
        assert kinds.count("ledger.FundsDeposited") == 2  # the arrangement's and theirs


async def test_concurrent_units_of_work_serialise_on_sqlite_and_conflict_on_postgres(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, balance=0)

        async def deposit(amount: int) -> bool:
            try:
                async with SqlUnitOfWork(database) as uow:
                    account = await uow.accounts.get("acc-1")
                    await asyncio.sleep(0.01)  # let the other one load too, if it can
                    account.deposit(amount, meta())
                    await uow.commit()
                    return True
            except ConcurrencyConflict:
                return False

        outcomes = list(await asyncio.gather(deposit(1), deposit(2)))
        balance, version = await stored_account(database, "acc-1")
        if database.dialect == "sqlite":
            assert outcomes == [True, True]
            assert (balance, version) == (3, 3)
        else:
            assert sorted(outcomes) == [False, True]
            assert balance in (1, 2)
            assert version == 2
