"""The idempotent consumer on SQLite and PostgreSQL: at-least-once in, exactly one effect out."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from integration.adapters.support import count, outbox_rows, schema_database
from kingdom.adapters.migrations import runner
from kingdom.adapters.sql.audit import audit_entries
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.inbox import inbox
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.identity import User
from kingdom.domain.ledger import Account, Transfer
from kingdom.domain.ledger import events as ledger
from kingdom.domain.shared import Conflict, Event, MessageMeta
from kingdom.services.audit import audit_entry, record_audit
from kingdom.services.consumers import Consumer, HandlersFailed, build_consumer
from kingdom.services.fakes import FakeClock, RecordingMailer
from kingdom.services.injection import Handler
from kingdom.services.ports import Clock, InboxEntry, UnitOfWork

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def meta() -> MessageMeta:
    return MessageMeta(message_id=f"m-{next(_ids):05d}", occurred_at=NOW)


def events(how_many: int) -> list[Event]:
    """A mix of ledger events (the audit trail needs no rows they refer to)."""
    made: list[Event] = []
    for n in range(how_many):
        account = f"acc-{n % 7}"
        kind = n % 3
        if kind == 0:
            made.append(
                ledger.FundsDeposited(meta=meta(), account_id=account, amount=n + 1, balance=n + 1)
            )
        elif kind == 1:
            made.append(ledger.FundsWithdrawn(meta=meta(), account_id=account, amount=1, balance=n))
        else:
            made.append(
                ledger.TransferCompleted(
                    meta=meta(),
                    transfer_id=f"t-{n}",
                    source_id=account,
                    target_id="acc-x",
                    amount=n,
                    currency="EUR",
                )
            )
    return made


@pytest.fixture()
async def database(database_url: str) -> AsyncIterator[Database]:
    async with schema_database(database_url) as database:
        yield database


def consumer_on(database: Database) -> Consumer:
    return build_consumer(
        uow_factory=lambda: SqlUnitOfWork(database),
        dependencies={"clock": FakeClock(NOW + timedelta(minutes=1)), "mailer": RecordingMailer()},
    )


async def test_each_event_is_recorded_once_however_often_it_is_delivered(
    database: Database,
) -> None:
    consumer = consumer_on(database)
    delivered = events(100)

    for _round in range(3):
        for event in delivered:
            await consumer.consume(event)

    assert await count(database, audit_entries) == 100
    assert await count(database, inbox) == 100


async def test_concurrent_deliveries_record_each_event_once(database: Database) -> None:
    consumer = consumer_on(database)
    delivered = events(100)

    for event in delivered:
        await asyncio.gather(*(consumer.consume(event) for _delivery in range(3)))

    assert await count(database, audit_entries) == 100
    assert await count(database, inbox) == 100
    async with SqlUnitOfWork(database) as uow:
        last = delivered[-1]
        entry = await uow.audit.find(last.message_id)
        assert entry == audit_entry(last, recorded_at=NOW + timedelta(minutes=1))


async def record_then_break(event: Event, uow: UnitOfWork, clock: Clock) -> None:
    """Writes the audit entry, then a transfer between accounts that do not exist."""
    async with uow:
        uow.audit.add(audit_entry(event, recorded_at=clock.now()))
        await uow.transfers.add(
            Transfer(
                id="t-broken",
                source_id="missing-1",
                target_id="missing-2",
                amount=1,
                currency="EUR",
                occurred_at=clock.now(),
            )
        )
        await uow.commit()  # the foreign keys refuse it, after the other INSERTs ran


async def record_then_raise(event: Event, uow: UnitOfWork, clock: Clock) -> None:
    async with uow:
        uow.audit.add(audit_entry(event, recorded_at=clock.now()))
        raise RuntimeError("the handler broke before committing")


@pytest.mark.parametrize("handler", [record_then_break, record_then_raise])
async def test_a_failing_handler_leaves_neither_its_entry_nor_its_inbox_row(
    database: Database, handler: Handler
) -> None:
    consumer = Consumer(
        uow_factory=lambda: SqlUnitOfWork(database),
        handlers={ledger.AccountClosed: (handler,)},
        dependencies={"clock": FakeClock(NOW)},
    )
    event = ledger.AccountClosed(meta=meta(), account_id="acc-1")

    with pytest.raises(HandlersFailed) as raised:
        await consumer.consume(event)

    assert list(raised.value.failures) == [f"{__name__}.{handler.__qualname__}"]
    assert await count(database, audit_entries) == 0
    assert await count(database, inbox) == 0


async def test_the_other_handlers_commit_and_are_skipped_on_redelivery(
    database: Database,
) -> None:
    consumer = Consumer(
        uow_factory=lambda: SqlUnitOfWork(database),
        handlers={ledger.AccountClosed: (record_then_raise, record_audit)},
        dependencies={"clock": FakeClock(NOW)},
    )
    event = ledger.AccountClosed(meta=meta(), account_id="acc-1")

    for _delivery in range(2):
        with pytest.raises(HandlersFailed):
            await consumer.consume(event)

    assert await count(database, audit_entries) == 1  # record_audit's, once
    assert await count(database, inbox) == 1


class Wakes:
    """Counts how often the unit of work says the outbox has new rows."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("the relay is gone")


def ann() -> User:
    return User.register(
        id="u-1", email="ann@example.org", display_name="Ann", password_hash="h", meta=meta()
    )


async def test_the_commit_hook_runs_after_commits_that_wrote_outbox_rows(
    database: Database,
) -> None:
    wakes = Wakes()

    async with SqlUnitOfWork(database, after_commit=wakes) as uow:
        await uow.accounts.add(
            Account.open(id="acc-1", owner_id="nobody", currency="EUR", meta=meta())
        )
        with pytest.raises(Conflict):  # no such owner: the commit fails
            await uow.commit()
    assert wakes.calls == 0

    async with SqlUnitOfWork(database, after_commit=wakes) as uow:
        uow.inbox.add(InboxEntry("m-hook", "test", NOW))
        await uow.commit()  # no events: no outbox rows
    assert wakes.calls == 0

    async with SqlUnitOfWork(database, after_commit=wakes) as uow:
        await uow.users.add(ann())
        await uow.commit()
    assert wakes.calls == 1


async def test_a_failing_commit_hook_does_not_undo_the_commit(database: Database) -> None:
    async with SqlUnitOfWork(database, after_commit=Wakes(fail=True)) as uow:
        await uow.users.add(ann())
        await uow.commit()  # does not raise

    assert [type(event).__name__ for event in uow.collect_new_events()] == ["UserRegistered"]
    assert len(await outbox_rows(database)) == 1


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migration_0006_goes_down_and_up_again(database_url: str) -> None:
    await runner.upgrade(database_url)
    head = await runner.current(database_url)
    database = create_database(database_url)
    try:
        async with database.engine.connect() as connection:
            assert {"inbox", "audit_entries"} <= await connection.run_sync(_table_names)
        await database.dispose()

        await runner.downgrade(database_url, "0005")
        assert await runner.current(database_url) == ("0005",)
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(_table_names)
        assert not {"inbox", "audit_entries"} & tables
        assert "outbox" in tables
        await database.dispose()

        await runner.upgrade(database_url)
        assert await runner.current(database_url) == head
        await runner.check(database_url)
    finally:
        await database.dispose()
