"""Commands through the real message bus and handlers, on the SQL unit of work.

What the outbox promises: every committed event has exactly one row, written
in the transaction that made the change; nothing of a failed or retried
attempt remains.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update

from integration.adapters.support import SqlApp, count, outbox_rows, schema_database
from kingdom.adapters.identity.tables import reset_tokens, users
from kingdom.adapters.ledger.tables import accounts
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.event_codec import decode
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import (
    AssignRole,
    CreateRole,
    RegisterUser,
    RequestPasswordReset,
    ResetPassword,
)
from kingdom.domain.ledger import Account, Deposit, OpenAccount, TransferFunds
from kingdom.domain.shared import Command, Event, MessageMeta
from kingdom.services.fakes import superuser
from kingdom.services.meta import new_meta
from kingdom.services.ports import Change, Clock, ConcurrencyConflict, IdGenerator, UnitOfWork


async def register(app: SqlApp, email: str) -> str:
    user_id: str = await app.bus.handle(
        RegisterUser(meta=app.meta(), email=email, display_name="Someone", password="pw-12345678")
    )
    return user_id


async def open_account(app: SqlApp, owner_id: str) -> str:
    account_id: str = await app.bus.handle(
        OpenAccount(meta=app.meta(), actor=superuser(), owner_id=owner_id, currency="EUR")
    )
    return account_id


async def deposit(app: SqlApp, account_id: str, amount: int) -> None:
    await app.bus.handle(
        Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=amount)
    )


async def stored_balance(database: Database, account_id: str) -> tuple[int, int]:
    async with database.engine.connect() as connection:
        row = (
            await connection.execute(
                select(accounts.c.balance, accounts.c.version).where(accounts.c.id == account_id)
            )
        ).one()
    return row.balance, row.version


async def assert_outbox_matches_published(app: SqlApp) -> None:
    """One row per committed event, decoding back to exactly the event the bus announced."""
    rows = await outbox_rows(app.database)
    stored = [decode(r["event_type"], r["schema_version"], r["payload"]) for r in rows]
    published: Sequence[Event] = app.published
    assert sorted(stored, key=lambda e: e.message_id) == sorted(
        published, key=lambda e: e.message_id
    )
    assert len({r["message_id"] for r in rows}) == len(rows)


async def test_successful_commands_leave_one_outbox_row_per_event(database_url: str) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        ann = await register(app, "ann@example.org")
        bob = await register(app, "bob@example.org")
        await app.bus.handle(
            CreateRole(
                meta=app.meta(),
                actor=superuser(),
                code="teller",
                name="Teller",
                policies=(Policy.of("accounts", Permission.READ),),
            )
        )
        await app.bus.handle(
            AssignRole(meta=app.meta(), actor=superuser(), user_id=ann, role_code="teller")
        )
        source, target = await open_account(app, ann), await open_account(app, bob)
        await deposit(app, source, 100)
        await app.bus.handle(
            TransferFunds(
                meta=app.meta(), actor=superuser(), source_id=source, target_id=target, amount=40
            )
        )

        rows = await outbox_rows(database)
        assert [r["event_type"] for r in rows] == [
            "identity.UserRegistered",
            "identity.UserRegistered",
            "identity.RoleCreated",
            "identity.RoleAssigned",
            "ledger.AccountOpened",
            "ledger.AccountOpened",
            "ledger.FundsDeposited",
            "ledger.TransferCompleted",
        ]
        await assert_outbox_matches_published(app)
        assert await stored_balance(database, source) == (60, 3)
        assert await stored_balance(database, target) == (40, 2)


async def test_password_reset_writes_and_redeems_the_token(database_url: str) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        await register(app, "ann@example.org")
        await app.bus.handle(RequestPasswordReset(meta=app.meta(), email="ann@example.org"))
        [secret] = app.secrets.issued
        await app.bus.handle(
            ResetPassword(meta=app.meta(), token=secret, new_password="battery staple 1")
        )

        async with database.engine.connect() as connection:
            token = (await connection.execute(select(reset_tokens))).mappings().one()
            user = (await connection.execute(select(users))).mappings().one()
        assert token["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert token["used_at"] == app.clock.now()
        assert (user["token_version"], user["version"]) == (1, 2)
        assert [r["event_type"] for r in await outbox_rows(database)] == [
            "identity.UserRegistered",
            "identity.PasswordResetRequested",
            "identity.PasswordChanged",
        ]
        await assert_outbox_matches_published(app)


@dataclass(frozen=True, kw_only=True)
class Explode(Command):
    """A test-only command whose handler changes things, then fails before committing."""

    user_id: str


async def explode(command: Explode, uow: UnitOfWork, clock: Clock, ids: IdGenerator) -> None:
    async with uow:
        owner = await uow.users.get(command.user_id)
        owner.change_password("new-hash", new_meta(clock, ids))
        account = Account.open(id="acc-x", owner_id=owner.id, currency="EUR", meta=command.meta)
        await uow.accounts.add(account)
        raise RuntimeError("the handler failed half-way")


@dataclass(frozen=True, kw_only=True)
class ReuseMessageId(Command):
    """A test-only command whose commit fails after the state rows were already flushed."""

    user_id: str
    reused: str


async def reuse_message_id(command: ReuseMessageId, uow: UnitOfWork, clock: Clock) -> None:
    async with uow:
        owner = await uow.users.get(command.user_id)
        owner.change_password("new-hash", MessageMeta(command.reused, clock.now()))
        account = Account.open(
            id="acc-y", owner_id=owner.id, currency="EUR", meta=MessageMeta("fresh", clock.now())
        )
        await uow.accounts.add(account)
        await uow.commit()  # the outbox insert hits the unique message_id


async def test_a_handler_failing_half_way_leaves_no_state_and_no_outbox_row(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database, extra_commands={Explode: explode})
        ann = await register(app, "ann@example.org")
        rows_before = await outbox_rows(database)

        with pytest.raises(RuntimeError, match="half-way"):
            await app.bus.handle(Explode(meta=app.meta(), user_id=ann))

        assert await count(database, accounts) == 0
        assert await outbox_rows(database) == rows_before
        async with database.engine.connect() as connection:
            version = await connection.scalar(select(users.c.version))
        assert version == 1


async def test_a_commit_failing_after_the_flush_leaves_no_state_and_no_outbox_row(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database, extra_commands={ReuseMessageId: reuse_message_id})
        ann = await register(app, "ann@example.org")
        rows_before = await outbox_rows(database)
        taken = rows_before[0]["message_id"]

        # A duplicate key reads as a concurrent insert: retried, then surfaced.
        with pytest.raises(ConcurrencyConflict):
            await app.bus.handle(ReuseMessageId(meta=app.meta(), user_id=ann, reused=taken))

        assert await count(database, accounts) == 0
        assert await outbox_rows(database) == rows_before
        async with database.engine.connect() as connection:
            user = (await connection.execute(select(users))).mappings().one()
        assert (user["password_hash"] != "new-hash", user["version"]) == (True, 1)


class LosesTheRace(SqlUnitOfWork):
    """Just before committing, "someone else" bumps the versions of the accounts it loaded."""

    async def _commit(self, changes: Sequence[Change]) -> None:
        if self.accounts.seen:
            ids = [account.id for account in self.accounts.seen]
            await self.transaction.execute(
                update(accounts)
                .where(accounts.c.id.in_(ids))
                .values(version=accounts.c.version + 1)
            )
        await super()._commit(changes)


async def test_a_retried_conflict_still_leaves_exactly_one_row_per_event(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        ann = await register(app, "ann@example.org")
        source, target = await open_account(app, ann), await open_account(app, ann)
        await deposit(app, source, 100)

        attempts: list[SqlUnitOfWork] = []

        def first_loses() -> SqlUnitOfWork:
            uow = SqlUnitOfWork(database) if attempts else LosesTheRace(database)
            attempts.append(uow)
            return uow

        app.uow_factory = first_loses
        await app.bus.handle(
            TransferFunds(
                meta=app.meta(), actor=superuser(), source_id=source, target_id=target, amount=30
            )
        )

        assert [type(uow) for uow in attempts] == [LosesTheRace, SqlUnitOfWork]
        rows = await outbox_rows(database)
        assert [r["event_type"] for r in rows].count("ledger.TransferCompleted") == 1
        await assert_outbox_matches_published(app)
        # The lost attempt's write was rolled back with it, version bump included.
        assert await stored_balance(database, source) == (70, 3)
        assert await stored_balance(database, target) == (30, 2)


async def test_concurrent_commands_on_one_account_all_land_exactly_once(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        account = await open_account(app, await register(app, "ann@example.org"))

        await asyncio.gather(*(deposit(app, account, amount) for amount in (1, 2, 4, 8)))

        assert await stored_balance(database, account) == (15, 5)
        rows = await outbox_rows(database)
        deposits = [r for r in rows if r["event_type"] == "ledger.FundsDeposited"]
        assert sorted(r["aggregate_version"] for r in deposits) == [2, 3, 4, 5]
        assert sorted(r["payload"]["balance"] for r in deposits)[-1] == 15
        await assert_outbox_matches_published(app)
