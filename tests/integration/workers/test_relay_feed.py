"""The SQL outbox feed: claims that hold, stamps that roll back, pruning, racing relays, NOTIFY."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import insert, select

from integration.workers.conftest import OCCURRED, deposit, fill_outbox, published_count
from kingdom.adapters.sql.engine import Database, create_database, postgres_dsn
from kingdom.adapters.sql.outbox import outbox, outbox_row
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.adapters.sql.outbox_wakeup import outbox_wakeups
from kingdom.services.fakes import FakeClock
from kingdom.services.ports.outbox import Backlog, EventTransport, OutboxMessage
from kingdom.services.relay import OutboxRelay


async def stamps(database: Database) -> dict[str, object]:
    query = select(outbox.c.message_id, outbox.c.published_at).order_by(outbox.c.position)
    async with database.engine.connect() as connection:
        return {row.message_id: row.published_at for row in await connection.execute(query)}


async def test_a_claim_left_with_an_exception_marks_nothing(outbox_database: Database) -> None:
    ids = await fill_outbox(outbox_database, 3)
    feed = SqlOutboxFeed(outbox_database)

    async def fail_after_marking() -> None:
        async with feed.claim(10) as batch:
            assert [m.message_id for m in batch.messages] == ids
            await batch.published(ids)
            raise RuntimeError("the send failed after all")

    with pytest.raises(RuntimeError):
        await fail_after_marking()
    assert set((await stamps(outbox_database)).values()) == {None}

    async with feed.claim(2) as batch:
        await batch.published([batch.messages[0].message_id, "not-in-this-claim"])
    assert [stamp is not None for stamp in (await stamps(outbox_database)).values()] == [
        True,
        False,
        False,
    ]


async def test_the_backlog_counts_the_unpublished_and_their_oldest(
    outbox_database: Database,
) -> None:
    feed = SqlOutboxFeed(outbox_database)
    assert await feed.backlog() == Backlog(0, None)
    await fill_outbox(outbox_database, 4)
    async with feed.claim(1) as batch:
        await batch.published([m.message_id for m in batch.messages])
    assert await feed.backlog() == Backlog(3, deposit(2).occurred_at)


async def test_pruning_deletes_only_published_rows_older_than_the_retention(
    outbox_database: Database,
) -> None:
    clock = FakeClock(OCCURRED)
    feed = SqlOutboxFeed(outbox_database, clock, prune_chunk=2)
    await fill_outbox(outbox_database, 9)
    for _ in range(3):  # each day, publish 2 of the 3 claimed (the third goes next day)
        async with feed.claim(3) as batch:
            await batch.published([m.message_id for m in batch.messages][:2])
        clock.advance(timedelta(days=1))
    # Published: 1-2 at OCCURRED, 3-4 a day later, 5-6 two days later. 7-9 never
    # were, though they occurred as long ago as the others.
    relay = OutboxRelay(feed, _Nowhere(), clock, retention=timedelta(days=2))
    clock.advance(timedelta(minutes=1))  # now: OCCURRED + 3 days, 1 minute

    assert await relay.prune() == 4  # published at OCCURRED and OCCURRED + 1 day

    left = await stamps(outbox_database)
    assert list(left) == [f"evt-{n:05d}" for n in range(5, 10)]
    assert await feed.prune(OCCURRED + timedelta(days=10)) == 2
    assert await feed.backlog() == Backlog(3, deposit(7).occurred_at)


class _Nowhere(EventTransport):
    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        raise AssertionError("not expected to send")


class Slow(EventTransport):
    """Accepts everything after a pause, so claims overlap; counts every id it saw."""

    def __init__(self, seen: Counter[str]) -> None:
        self.seen = seen
        self.batches = 0

    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        self.batches += 1
        await asyncio.sleep(0.01)
        self.seen.update(m.message_id for m in messages)
        return []


async def test_two_relays_racing_lose_nothing_and_on_postgres_send_nothing_twice(
    outbox_database: Database,
) -> None:
    ids = await fill_outbox(outbox_database, 600)
    url = outbox_database.engine.url.render_as_string(hide_password=False)
    # Separate engines: two relay processes, each with its own connections.
    other = create_database(url)
    seen: Counter[str] = Counter()
    transports = [Slow(seen), Slow(seen)]
    relays = [
        OutboxRelay(SqlOutboxFeed(database), transport, FakeClock(), batch_size=25)
        for database, transport in zip((outbox_database, other), transports, strict=True)
    ]
    try:

        async def drain(relay: OutboxRelay) -> None:
            while await relay.relay_once():
                pass

        await asyncio.gather(*(drain(relay) for relay in relays))
    finally:
        await other.dispose()

    assert sorted(seen) == ids  # none left behind
    assert await published_count(outbox_database) == 600
    duplicates = sum(seen.values()) - len(seen)
    print(f"batches per relay: {[t.batches for t in transports]}, {duplicates} sent twice")
    if outbox_database.dialect == "postgresql":
        # SKIP LOCKED: concurrent claims (not turns), and no row in two of them.
        assert duplicates == 0
        assert all(t.batches > 0 for t in transports)
    # SQLite reads its claim without a lock (see outbox_feed): repeats allowed, losses not.


async def test_notify_wakes_the_callback_after_a_commit(outbox_database: Database) -> None:
    if outbox_database.dialect != "postgresql":
        async with outbox_wakeups(outbox_database, _never):
            pass  # SQLite has no NOTIFY: nothing to listen to, nothing fails
        return
    woken = asyncio.Event()
    async with outbox_wakeups(outbox_database, woken.set):
        await asyncio.wait_for(woken.wait(), 10)  # the call after connecting
        woken.clear()
        async with outbox_database.writer.begin() as connection:
            await connection.execute(insert(outbox), [outbox_row(deposit(1), None)])
        await asyncio.wait_for(woken.wait(), 10)

        # Lose the listening connection: the listener connects again and still hears.
        woken.clear()
        admin = await asyncpg.connect(postgres_dsn(outbox_database.engine.url))
        try:
            terminated = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert terminated == 1
        await asyncio.wait_for(woken.wait(), 10)  # reconnected (it calls back on connecting)
        woken.clear()
        async with outbox_database.writer.begin() as connection:
            await connection.execute(insert(outbox), [outbox_row(deposit(2), None)])
        await asyncio.wait_for(woken.wait(), 10)


def _never() -> None:
    raise AssertionError("SQLite has nothing to notify")
