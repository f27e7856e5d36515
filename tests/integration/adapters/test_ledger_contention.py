"""Contention on hot accounts through the real bus: it queues, it never answers CONFLICT.

16 clients move 1 unit back and forth between 2 accounts without an
expected version. Every transfer had the funds, so every one must succeed:
no ConcurrencyConflict surfaces, money is conserved, no balance goes
negative. (PostgreSQL: the accounts are locked FOR UPDATE in id order at
READ COMMITTED; SQLite: one writer at a time.) A stale expected version is
still refused.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from integration.adapters.support import SqlApp, schema_database
from kingdom.adapters.ledger.tables import accounts, transfers
from kingdom.domain.identity import RegisterUser
from kingdom.domain.ledger import Deposit, OpenAccount, TransferFunds, Withdraw
from kingdom.domain.shared import Conflict
from kingdom.services.fakes import superuser
from kingdom.services.ports import ConcurrencyConflict
from kingdom.services.retry import RetryPolicy

CLIENTS = 16
ROUNDS = 10


async def test_sixteen_clients_on_two_accounts_never_see_a_conflict(database_url: str) -> None:
    async with schema_database(database_url) as database:
        # Real backoff delays: what a client of the server gets.
        app = SqlApp(database, retry=RetryPolicy())
        owner = await app.bus.handle(
            RegisterUser(
                meta=app.meta(), email="ann@example.org", display_name="Ann", password="pw-12345678"
            )
        )
        ids = [
            await app.bus.handle(
                OpenAccount(meta=app.meta(), actor=superuser(), owner_id=owner, currency="EUR")
            )
            for _ in range(2)
        ]
        for account_id in ids:
            await app.bus.handle(
                Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=CLIENTS)
            )

        conflicts: list[Exception] = []

        async def client(n: int) -> None:
            source, target = ids if n % 2 else ids[::-1]
            for _ in range(ROUNDS):
                try:
                    await app.bus.handle(
                        TransferFunds(
                            meta=app.meta(),
                            actor=superuser(),
                            source_id=source,
                            target_id=target,
                            amount=1,
                        )
                    )
                except Conflict as error:
                    conflicts.append(error)
                source, target = target, source

        await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(CLIENTS))), 120)

        assert conflicts == []
        async with database.engine.connect() as connection:
            balances: list[int] = list(
                (await connection.execute(select(accounts.c.balance))).scalars()
            )
            moved = len((await connection.execute(select(transfers.c.id))).all())
        assert sum(balances) == 2 * CLIENTS
        assert min(balances) >= 0
        assert moved == CLIENTS * ROUNDS


async def test_a_stale_expected_version_is_still_a_conflict_and_not_retried(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        owner = await app.bus.handle(
            RegisterUser(
                meta=app.meta(), email="bo@example.org", display_name="Bo", password="pw-12345678"
            )
        )
        source = await app.bus.handle(
            OpenAccount(meta=app.meta(), actor=superuser(), owner_id=owner, currency="EUR")
        )
        target = await app.bus.handle(
            OpenAccount(meta=app.meta(), actor=superuser(), owner_id=owner, currency="EUR")
        )
        await app.bus.handle(
            Deposit(meta=app.meta(), actor=superuser(), account_id=source, amount=10)
        )  # version 2
        for command in (
            TransferFunds(
                meta=app.meta(),
                actor=superuser(),
                source_id=source,
                target_id=target,
                amount=1,
                expected_version=1,
            ),
            Withdraw(
                meta=app.meta(), actor=superuser(), account_id=source, amount=1, expected_version=1
            ),
        ):
            with pytest.raises(Conflict) as refused:
                await app.bus.handle(command)
            assert not isinstance(refused.value, ConcurrencyConflict)
            assert "version 2, not 1" in str(refused.value)
