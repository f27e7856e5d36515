"""The unit-of-work contract: the same cases over the in-memory fake, SQLite and PostgreSQL.

Handler tests run on the fake, so the fake must keep exactly the promises
the SQL unit of work keeps: an identity map, all-or-nothing commits, version
checks, one outbox entry per event, conflicts for concurrent duplicates, and
single use. Each case talks to a :class:`Backend`; only how to look at the
stored state (and how "someone else" changes it) differs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import select, update

from integration.adapters.support import arrange_ann, outbox_rows, schema_database
from integration.databases import fresh_postgres, sqlite_url
from kingdom.adapters.ledger.tables import accounts
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.identity import User
from kingdom.domain.ledger import Account, transfer
from kingdom.domain.shared import Conflict, MessageMeta
from kingdom.services.fakes import FakeUnitOfWork, InMemoryStore
from kingdom.services.ports import (
    AuditEntry,
    ConcurrencyConflict,
    InboxEntry,
    UnitOfWork,
)

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def meta() -> MessageMeta:
    return MessageMeta(message_id=f"m-{next(_ids)}", occurred_at=NOW)


class Backend(Protocol):
    def unit_of_work(self) -> UnitOfWork: ...

    async def stored_account(self, account_id: str) -> tuple[int, int] | None:
        """(balance, version) as committed, or None."""

    async def outbox_ids(self) -> list[str]:
        """Message ids of the committed events, in order."""

    async def change_behind(self, uow: UnitOfWork, account_id: str) -> None:
        """Someone else commits a change to the account after ``uow`` loaded it."""


class FakeBackend:
    def __init__(self) -> None:
        self.store = InMemoryStore()

    def unit_of_work(self) -> UnitOfWork:
        return FakeUnitOfWork(self.store)

    async def stored_account(self, account_id: str) -> tuple[int, int] | None:
        stored = self.store.accounts.get(account_id)
        return None if stored is None else (stored.balance, stored.version)

    async def outbox_ids(self) -> list[str]:
        return [event.message_id for event in self.store.outbox]

    async def change_behind(self, uow: UnitOfWork, account_id: str) -> None:
        self.store.accounts[account_id].version += 1


class SqlBackend:
    def __init__(self, database: Database) -> None:
        self.database = database

    def unit_of_work(self) -> UnitOfWork:
        return SqlUnitOfWork(self.database)

    async def stored_account(self, account_id: str) -> tuple[int, int] | None:
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(accounts.c.balance, accounts.c.version).where(
                        accounts.c.id == account_id
                    )
                )
            ).one_or_none()
        return None if row is None else (row.balance, row.version)

    async def outbox_ids(self) -> list[str]:
        return [row["message_id"] for row in await outbox_rows(self.database)]

    async def change_behind(self, uow: UnitOfWork, account_id: str) -> None:
        # Inside the unit of work's own transaction: SQLite admits one writer,
        # and on PostgreSQL the account is locked by this very transaction.
        assert isinstance(uow, SqlUnitOfWork)
        await uow.transaction.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(version=accounts.c.version + 1)
        )


@pytest.fixture(params=["fake", "sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        yield FakeBackend()
        return
    if request.param == "sqlite":
        async with schema_database(sqlite_url(tmp_path)) as database:
            yield SqlBackend(database)
        return
    server_url = request.getfixturevalue("postgres_url")
    async with fresh_postgres(server_url) as url, schema_database(url) as database:
        yield SqlBackend(database)


async def arrange(backend: Backend, balance: int = 100) -> None:
    await arrange_ann(backend.unit_of_work, balance)


async def test_repositories_are_identity_maps(backend: Backend) -> None:
    await arrange(backend)
    async with backend.unit_of_work() as uow:
        first = await uow.accounts.get("acc-1")
        assert await uow.accounts.get("acc-1") is first
        assert await uow.accounts.find("nope") is None
        new = Account.open(id="acc-3", owner_id="u-1", currency="EUR", meta=meta())
        await uow.accounts.add(new)
        assert await uow.accounts.get("acc-3") is new
        with pytest.raises(Conflict):
            await uow.accounts.add(new)
        assert await uow.users.find_by_email("ann@example.org") is await uow.users.get("u-1")


async def test_a_commit_writes_changed_aggregates_once_and_bumps_their_versions(
    backend: Backend,
) -> None:
    await arrange(backend, balance=0)
    async with backend.unit_of_work() as uow:
        changed = await uow.accounts.get("acc-1")
        read_only = await uow.accounts.get("acc-2")
        user = await uow.users.get("u-1")
        user.policies = set(user.policies)  # an equal value is no change
        changed.deposit(5, meta())
        changed.deposit(6, meta())
        await uow.commit()
        assert (changed.version, read_only.version, user.version) == (2, 1, 1)

    assert await backend.stored_account("acc-1") == (11, 2)
    assert await backend.stored_account("acc-2") == (0, 1)


async def test_one_outbox_entry_per_event_in_the_same_commit(backend: Backend) -> None:
    await arrange(backend)
    before = await backend.outbox_ids()
    async with backend.unit_of_work() as uow:
        source, target = await uow.accounts.get("acc-1"), await uow.accounts.get("acc-2")
        await uow.transfers.add(
            transfer(id="t-1", source=source, target=target, amount=30, meta=meta())
        )
        source.withdraw(20, meta())
        await uow.commit()
        committed = uow.collect_new_events()

    assert [type(event).__name__ for event in committed] == ["TransferCompleted", "FundsWithdrawn"]
    assert (await backend.outbox_ids())[len(before) :] == [e.message_id for e in committed]
    assert await backend.stored_account("acc-1") == (50, 3)
    assert await backend.stored_account("acc-2") == (30, 2)


async def test_leaving_without_commit_leaves_nothing(backend: Backend) -> None:
    await arrange(backend, balance=10)
    before = await backend.outbox_ids()
    async with backend.unit_of_work() as uow:
        loaded = await uow.accounts.get("acc-1")
        loaded.deposit(5, meta())
        await uow.accounts.add(
            Account.open(id="acc-3", owner_id="u-1", currency="EUR", meta=meta())
        )

    assert uow.collect_new_events() == []
    assert loaded.pending_events == ()
    assert (loaded.balance, loaded.version) == (15, 2)  # still readable as the handler left it
    assert await backend.stored_account("acc-1") == (10, 2)
    assert await backend.stored_account("acc-3") is None
    assert await backend.outbox_ids() == before


async def test_a_stale_version_is_a_concurrency_conflict_and_writes_nothing(
    backend: Backend,
) -> None:
    await arrange(backend, balance=10)
    before = await backend.outbox_ids()
    async with backend.unit_of_work() as uow:
        account = await uow.accounts.get("acc-1")
        other = await uow.accounts.get("acc-2")
        other.deposit(1, meta())  # written first, then rolled back with the rest
        await backend.change_behind(uow, "acc-1")
        account.deposit(5, meta())
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()
        assert (account.version, other.version) == (2, 1)  # a failed commit bumps nothing

    assert uow.collect_new_events() == []
    assert await backend.stored_account("acc-2") == (0, 1)
    assert await backend.outbox_ids() == before


async def test_concurrent_duplicates_are_concurrency_conflicts(backend: Backend) -> None:
    await arrange(backend, balance=0)
    async with backend.unit_of_work() as uow:  # an id the store has, unknown to this uow
        await uow.accounts.add(
            Account.open(id="acc-1", owner_id="u-1", currency="EUR", meta=meta())
        )
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()
    async with backend.unit_of_work() as uow:  # a unique e-mail
        twin = User.register(
            id="u-2", email="ann@example.org", display_name="Twin", password_hash="h", meta=meta()
        )
        await uow.users.add(twin)
        with pytest.raises(ConcurrencyConflict) as raised:
            await uow.commit()
        assert twin.version == 0
    assert "ann@example.org" not in str(raised.value) or isinstance(backend, FakeBackend)


async def test_a_unit_of_work_is_used_once(backend: Backend) -> None:
    await arrange(backend, balance=0)
    uow = backend.unit_of_work()
    async with uow:
        (await uow.accounts.get("acc-1")).deposit(1, meta())
        await uow.commit()
        with pytest.raises(RuntimeError, match="already committed"):
            await uow.commit()
    with pytest.raises(RuntimeError, match="used once"):
        async with uow:
            pass
    assert await backend.stored_account("acc-1") == (1, 2)


# The workers' records: inbox entries and audit entries.


def inbox_entry(message_id: str = "m-x", handler: str = "audit") -> InboxEntry:
    return InboxEntry(message_id, handler, NOW)


def audit_entry(message_id: str = "m-x") -> AuditEntry:
    return AuditEntry(
        message_id=message_id,
        event_type="ledger.TransferCompleted",
        occurred_at=NOW,
        recorded_at=NOW + timedelta(seconds=1),
        subject_type="account",
        subject_id="acc-1",
        summary="transferred 250 from acc-1 to acc-2 (EUR)",
        actor_id="u-1",
        related_ids=("acc-2", "t-1"),
        trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        request_id="req-1",
    )


async def test_inbox_and_audit_entries_are_identity_mapped(backend: Backend) -> None:
    entry, audited = inbox_entry(), audit_entry()
    async with backend.unit_of_work() as uow:
        assert not await uow.inbox.contains("m-x", "audit")
        uow.inbox.add(entry)
        assert await uow.inbox.contains("m-x", "audit")  # staged counts
        assert not await uow.inbox.contains("m-x", "other")
        with pytest.raises(Conflict):
            uow.inbox.add(entry)
        assert await uow.audit.find("m-x") is None
        uow.audit.add(audited)
        assert await uow.audit.find("m-x") is audited
        with pytest.raises(Conflict):
            uow.audit.add(audited)
        await uow.commit()

    async with backend.unit_of_work() as uow:
        assert await uow.inbox.contains("m-x", "audit")
        found = await uow.audit.find("m-x")
        assert found == audited  # every field round-trips
        assert await uow.audit.find("m-x") is found


async def test_inbox_and_audit_entries_roll_back_with_the_rest(backend: Backend) -> None:
    await arrange(backend, balance=10)
    async with backend.unit_of_work() as uow:
        uow.inbox.add(inbox_entry())
        uow.audit.add(audit_entry())
        (await uow.accounts.get("acc-1")).deposit(5, meta())

    async with backend.unit_of_work() as uow:
        assert not await uow.inbox.contains("m-x", "audit")
        assert await uow.audit.find("m-x") is None
    assert await backend.stored_account("acc-1") == (10, 2)


async def test_duplicate_inbox_and_audit_entries_are_concurrency_conflicts(
    backend: Backend,
) -> None:
    async with backend.unit_of_work() as uow:
        uow.inbox.add(inbox_entry())
        uow.audit.add(audit_entry())
        await uow.commit()
    before = await backend.outbox_ids()

    # Another delivery of the same message, by the same handler.
    async with backend.unit_of_work() as uow:
        uow.inbox.add(inbox_entry())
        uow.audit.add(audit_entry("m-y"))
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()
    # The same event audited twice, under another handler's inbox entry.
    async with backend.unit_of_work() as uow:
        uow.inbox.add(inbox_entry(handler="other"))
        uow.audit.add(audit_entry())
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()

    async with backend.unit_of_work() as uow:
        assert not await uow.inbox.contains("m-x", "other")
        assert await uow.audit.find("m-y") is None
    assert await backend.outbox_ids() == before


async def test_old_inbox_entries_are_pruned(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        uow.inbox.add(inbox_entry("m-old"))
        uow.inbox.add(InboxEntry("m-new", "audit", NOW + timedelta(days=2)))
        await uow.commit()

    async with backend.unit_of_work() as uow:
        assert await uow.inbox.prune(NOW + timedelta(days=1)) == 1
        await uow.commit()

    async with backend.unit_of_work() as uow:
        assert not await uow.inbox.contains("m-old", "audit")
        assert await uow.inbox.contains("m-new", "audit")
