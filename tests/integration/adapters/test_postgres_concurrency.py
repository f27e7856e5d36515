"""Consistency under concurrency on PostgreSQL (row locks, READ COMMITTED, aggregate versions).

No sleeps decide an outcome here: races are staged explicitly (a competing
transaction commits between another's read and its write), and the bank
workload checks invariants rather than timings.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from integration.adapters.support import SqlApp, outbox_rows, schema_database
from integration.databases import fresh_postgres
from kingdom.adapters.ledger.tables import accounts, transfers
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.identity import RegisterUser
from kingdom.domain.ledger import Deposit, InsufficientFunds, OpenAccount, TransferFunds
from kingdom.services.fakes import superuser
from kingdom.services.ports import Change
from kingdom.services.retry import RetryPolicy


async def balance_of(database: Database, account_id: str) -> int:
    async with database.engine.connect() as connection:
        return await read_balance(connection, account_id)


async def read_balance(connection: AsyncConnection, account_id: str) -> int:
    query = select(accounts.c.balance).where(accounts.c.id == account_id)
    balance: int = (await connection.execute(query)).scalar_one()
    return balance


async def funded_account(app: SqlApp, owner_id: str, amount: int) -> str:
    account_id: str = await app.bus.handle(
        OpenAccount(meta=app.meta(), actor=superuser(), owner_id=owner_id, currency="EUR")
    )
    if amount:
        await app.bus.handle(
            Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=amount)
        )
    return account_id


async def an_owner(app: SqlApp) -> str:
    owner_id: str = await app.bus.handle(
        RegisterUser(
            meta=app.meta(), email="owner@example.org", display_name="O", password="p" * 12
        )
    )
    return owner_id


async def test_a_lost_update_is_impossible_the_second_writer_waits(postgres_url: str) -> None:
    """Read, a concurrent writer, write: it waits for the row lock and builds on the commit."""
    async with fresh_postgres(postgres_url) as url, schema_database(url) as database:
        app = SqlApp(database)
        account_id = await funded_account(app, await an_owner(app), 100)

        async def theirs() -> int:
            async with SqlUnitOfWork(database) as second:
                account = await second.accounts.get(account_id)  # waits for the lock
                account.deposit(10, app.meta())
                await second.commit()
                return account.balance

        async with SqlUnitOfWork(database) as first:
            mine = await first.accounts.get(account_id)  # locked FOR UPDATE here
            waiting = asyncio.create_task(theirs())
            await asyncio.sleep(0.2)
            assert not waiting.done()
            mine.deposit(5, app.meta())
            await first.commit()
        assert await asyncio.wait_for(waiting, 10) == 115
        assert await balance_of(database, account_id) == 115


class RacingUnitOfWork(SqlUnitOfWork):
    """Runs ``race`` (once) on its own transaction after the handler's reads, before its commit.

    (In its own transaction: the handler's transaction holds the account's
    row lock, so "someone else" could not write it from outside.)
    """

    def __init__(
        self, database: Database, race: Callable[[SqlUnitOfWork], Awaitable[None]] | None
    ) -> None:
        super().__init__(database)
        self.race = race

    async def _commit(self, changes: Sequence[Change]) -> None:
        if self.race is not None:
            race, self.race = self.race, None
            await race(self)
        await super()._commit(changes)


async def test_the_bus_retries_a_lost_race_to_the_correct_value(postgres_url: str) -> None:
    async with fresh_postgres(postgres_url) as url, schema_database(url) as database:
        app = SqlApp(database)
        account_id = await funded_account(app, await an_owner(app), 100)

        async def concurrent_deposit(uow: SqlUnitOfWork) -> None:
            await uow.transaction.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(balance=accounts.c.balance + 10, version=accounts.c.version + 1)
            )

        races = [concurrent_deposit]
        before = len(app.units_of_work)
        app.uow_factory = lambda: RacingUnitOfWork(database, races.pop() if races else None)
        await app.bus.handle(
            Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=5)
        )

        assert await balance_of(database, account_id) == 105
        # Two attempts of the command; the failed one left no outbox row.
        assert len(app.units_of_work) - before == 2
        deposits = [r for r in await outbox_rows(database) if r["event_type"].endswith("Deposited")]
        # The racing write rolled back with the failed attempt: the retry saw 100 again.
        assert [r["payload"]["balance"] for r in deposits] == [100, 105]


@dataclass
class Tally:
    attempted: int = 0
    committed: int = 0
    rejected: int = 0
    reads: int = 0


async def test_bank_workload_keeps_every_invariant(postgres_url: str) -> None:
    """16 concurrent clients x 200 random transfers between 10 accounts, through the bus."""
    accounts_count, starting_balance, workers, transfers_each = 10, 1_000, 16, 200
    total = accounts_count * starting_balance
    async with fresh_postgres(postgres_url) as url, schema_database(url) as database:
        # Real (jittered) waits: hot rows need the losers of a race to spread out.
        # Ten accounts for sixteen writers is deliberately hot; the budget is
        # generous so that a loaded CI machine cannot turn slowness into a
        # surfaced conflict (what is asserted is that none surfaces).
        app = SqlApp(database, retry=RetryPolicy(attempts=200, base_delay=0.002, max_delay=0.1))
        owner = await an_owner(app)
        ids = [await funded_account(app, owner, starting_balance) for _ in range(accounts_count)]
        tally, done = Tally(), asyncio.Event()

        async def client(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(transfers_each):
                source, target = rng.sample(ids, 2)
                tally.attempted += 1
                try:
                    await app.bus.handle(
                        TransferFunds(
                            meta=app.meta(),
                            actor=superuser(),
                            source_id=source,
                            target_id=target,
                            amount=rng.randint(1, 400),
                        )
                    )
                    tally.committed += 1
                except InsufficientFunds:
                    tally.rejected += 1

        async def auditor() -> None:
            # Balances read one by one, but in one REPEATABLE READ transaction:
            # together they must describe one consistent moment.
            snapshot = database.engine.execution_options(isolation_level="REPEATABLE READ")
            while not done.is_set():
                async with snapshot.connect() as connection, connection.begin():
                    seen = [await read_balance(connection, account_id) for account_id in ids]
                assert sum(seen) == total
                assert min(seen) >= 0
                tally.reads += 1
                await asyncio.sleep(0)

        audit = asyncio.create_task(auditor())
        try:
            await asyncio.gather(*(client(seed) for seed in range(workers)))
        finally:
            done.set()
            await audit

        assert tally.attempted == workers * transfers_each
        assert tally.committed + tally.rejected == tally.attempted
        assert tally.committed > 0
        assert tally.reads > 0
        async with database.engine.connect() as connection:
            assert await connection.scalar(select(func.sum(accounts.c.balance))) == total
            assert await connection.scalar(select(func.min(accounts.c.balance))) >= 0
            assert await connection.scalar(select(func.count()).select_from(transfers)) == (
                tally.committed
            )
        completed = [
            r for r in await outbox_rows(database) if r["event_type"] == "ledger.TransferCompleted"
        ]
        assert len(completed) == tally.committed
