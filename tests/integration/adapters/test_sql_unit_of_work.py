"""The SQL unit of work beyond the shared contract: outbox columns, constraints, locks.

The promises every unit of work keeps (identity map, all-or-nothing,
versions, outbox entries, conflicts, single use) are checked for the fake,
SQLite and PostgreSQL alike in ``test_unit_of_work_contract.py``.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from integration.adapters.support import arrange_ann, count, outbox_rows, schema_database
from kingdom.adapters.identity.tables import users
from kingdom.adapters.ledger.tables import accounts, transfers
from kingdom.adapters.sql.engine import Database, Isolation
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
    await arrange_ann(lambda: SqlUnitOfWork(database), balance)


async def stored_account(database: Database, account_id: str) -> tuple[int, int]:
    async with database.engine.connect() as connection:
        row = (
            await connection.execute(
                select(accounts.c.balance, accounts.c.version).where(accounts.c.id == account_id)
            )
        ).one()
    return row.balance, row.version


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
            with pytest.raises(ConcurrencyConflict) as raised:
                await uow.commit()
            assert "unique" in raised.value.detail.lower()  # type: ignore[attr-defined]
            assert "unique" not in str(raised.value).lower()  # no internals for clients
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
            with pytest.raises(Conflict) as refused:
                await uow.commit()
            assert "check" in refused.value.detail.lower()  # type: ignore[attr-defined]
            assert not isinstance(refused.value, ConcurrencyConflict)  # not worth a retry

        assert await stored_account(database, "acc-1") == (10, 2)


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
            # Users are loaded without a row lock (accounts are locked FOR UPDATE).
            mine = await first.users.get("u-1")
            theirs = await second.users.get("u-1")
            theirs.display_name = "Theirs"
            await second.commit()
            mine.display_name = "Mine"
            with pytest.raises(ConcurrencyConflict):
                await first.commit()

        async with database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(users.c.display_name, users.c.version).where(users.c.id == "u-1")
                )
            ).one()
        assert (row.display_name, row.version) == ("Theirs", 2)


async def test_concurrent_deposits_to_one_account_queue_instead_of_conflicting(
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
        # SQLite has one writer; PostgreSQL queues the second on the row lock
        # (FOR UPDATE at READ COMMITTED) and it reads the first's balance.
        assert outcomes == [True, True]
        assert await stored_account(database, "acc-1") == (3, 3)
