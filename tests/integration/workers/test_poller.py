"""The local poller over a real SQS endpoint (moto's server, over HTTP).

Messages are sent the way the relay sends them (its :class:`SqsTransport`),
received as Lambda-shaped records and handed to the Lambda handler; the
records that succeeded are deleted, the failed ones come back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from integration.adapters.support import schema_database
from integration.workers.sqs import Queues, aws_environment, make_queues
from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.messaging.sqs_client import sqs_client
from kingdom.adapters.messaging.sqs_queue import SqsQueue
from kingdom.adapters.sql.audit import audit_entries
from kingdom.adapters.sql.engine import Database
from kingdom.domain.shared import Event
from kingdom.services.audit import AUDITED
from kingdom.workers.composition import Worker, build_worker
from kingdom.workers.lambda_handler import handle_batch
from kingdom.workers.poller import BatchHandler, Polled, poll, poll_once
from kingdom.workers.settings import WorkerSettings
from unit.workers.support import TRACE_PARENT, FakeConsumer, deposit, examples, outbox_message

ATTEMPTS = 50
"""Polls a test makes at most while waiting for SQS (each waits up to a second)."""


async def send(queues: Queues, events: list[Event]) -> None:
    transport = SqsTransport(queues.client, queues.url, fifo=queues.url.endswith(".fifo"))
    assert not await transport.send([outbox_message(event, TRACE_PARENT) for event in events])


async def send_body(queues: Queues, body: str) -> None:
    await asyncio.to_thread(queues.client.send_message, QueueUrl=queues.url, MessageBody=body)


def waiting(queues: Queues, url: str | None = None) -> int:
    """Messages on the queue, visible or in flight."""
    attributes = queues.client.get_queue_attributes(
        QueueUrl=url or queues.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.fixture()
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The handler's own loop, as a Lambda container has (not the test's)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def handler_for(consumer: Any, loop: asyncio.AbstractEventLoop) -> BatchHandler:
    return lambda event, context: handle_batch(event, consumer, loop)


async def test_a_batch_with_a_poison_message_deletes_the_nine_others(
    sqs_endpoint: str, loop: asyncio.AbstractEventLoop
) -> None:
    queues = make_queues(sqs_endpoint, max_receive_count=2, visibility=1)
    events = [deposit(amount) for amount in range(1, 10)]
    await send(queues, events[:4])
    await send_body(queues, "{poison")
    await send(queues, events[4:])
    queue = SqsQueue(sqs_client(sqs_endpoint), queues.url)
    consumer = FakeConsumer()

    polled: list[Polled] = []
    for _ in range(ATTEMPTS):
        polled.append(await poll_once(queue, handler_for(consumer, loop), wait_seconds=1))
        if len(consumer.consumed) == 9 and any(p.failed for p in polled):
            break

    assert sorted(e.message_id for e in consumer.consumed) == sorted(e.message_id for e in events)
    assert consumer.trace_parents == [TRACE_PARENT] * 9
    assert sum(p.received for p in polled) == 10
    assert sum(p.failed for p in polled) == 1
    assert waiting(queues) == 1  # only the poison message is left, in flight

    # After the visibility timeout it comes back, alone, and fails again.
    again = await poll_once(queue, handler_for(consumer, loop), wait_seconds=5)
    assert (again.received, again.failed) == (1, 1)
    assert len(consumer.consumed) == 9


async def test_poll_stops_when_told_and_finishes_the_batch_in_hand(
    sqs_endpoint: str, loop: asyncio.AbstractEventLoop
) -> None:
    queues = make_queues(sqs_endpoint)
    await send(queues, [deposit(1), deposit(2)])
    queue = SqsQueue(sqs_client(sqs_endpoint), queues.url)
    stop = asyncio.Event()
    test_loop = asyncio.get_running_loop()
    consumer = FakeConsumer()

    def stopped_while_handling(event: Any, context: Any) -> Any:
        test_loop.call_soon_threadsafe(stop.set)  # Ctrl-C, mid-batch
        return handle_batch(event, consumer, loop)

    await asyncio.wait_for(poll(queue, stopped_while_handling, stop, wait_seconds=1), timeout=60)

    # One batch, handled whole and deleted; nothing received after it.
    assert consumer.consumed
    assert waiting(queues) == 2 - len(consumer.consumed)


@pytest.fixture()
async def worker(database_url: str) -> AsyncIterator[tuple[Worker, Database]]:
    """The workers' real composition on a migrated database, and the test's view of it."""
    async with schema_database(database_url) as database:
        built = await asyncio.to_thread(build_worker, WorkerSettings(database_url=database_url))
        try:
            yield built, database
        finally:
            await asyncio.to_thread(built.close)


async def audit_counts(database: Database) -> dict[str, int]:
    query = select(audit_entries.c.message_id, func.count()).group_by(audit_entries.c.message_id)
    async with database.engine.connect() as connection:
        return {row[0]: row[1] for row in await connection.execute(query)}


async def test_real_events_are_audited_once_however_often_they_are_delivered(
    sqs_endpoint: str, worker: tuple[Worker, Database]
) -> None:
    built, database = worker
    queues = make_queues(sqs_endpoint)
    events = examples()[:5]
    for _ in range(3):  # every message delivered three times
        await send(queues, events)
    queue = SqsQueue(sqs_client(sqs_endpoint), queues.url)
    handler = handler_for(built.consumer, built.loop)

    received = 0
    for _ in range(ATTEMPTS):
        polled = await poll_once(queue, handler, wait_seconds=1)
        assert polled.failed == 0
        received += polled.received
        if received == 15:
            break

    assert received == 15
    assert waiting(queues) == 0
    assert await audit_counts(database) == {event.message_id: 1 for event in events}


async def test_every_event_type_is_consumed_by_the_real_consumer(
    sqs_endpoint: str, worker: tuple[Worker, Database]
) -> None:
    built, database = worker
    queues = make_queues(sqs_endpoint)
    events = examples()
    await send(queues, events)
    queue = SqsQueue(sqs_client(sqs_endpoint), queues.url)

    received = 0
    for _ in range(ATTEMPTS):
        polled = await poll_once(queue, handler_for(built.consumer, built.loop), wait_seconds=1)
        assert polled.failed == 0
        received += polled.received
        if received == len(events):
            break

    # Every event the trail records (an attempt on a taken address it leaves out).
    audited = {event.message_id for event in events if type(event) in AUDITED}
    assert len(audited) == len(events) - 1
    assert set(await audit_counts(database)) == audited


def start_poller(
    database_url: str, queues: Queues, endpoint: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **aws_environment(endpoint),
        # The child finds first-party code through the test's sys.path.
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "KINGDOM_DATABASE_URL": database_url,
        "KINGDOM_SQS_QUEUE_URL": queues.url,
        "KINGDOM_POLLER_WAIT_SECONDS": "1",
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "kingdom.workers.poller"], env=env, stdout=output, stderr=output
        )


async def test_the_poller_process_handles_a_message_and_exits_cleanly_on_sigint(
    sqs_endpoint: str, tmp_path: Path
) -> None:
    # A SQLite file nobody migrated: the poller migrates it, as the server would.
    database_file = tmp_path / "kingdom.db"
    queues = make_queues(sqs_endpoint)
    event = deposit(7)
    await send(queues, [event])
    log = tmp_path / "poller.log"
    process = start_poller(f"sqlite+aiosqlite:///{database_file}", queues, sqs_endpoint, log)
    try:
        for _ in range(300):
            if process.poll() is not None or audited(database_file, event.message_id):
                break
            await asyncio.sleep(0.1)
        assert process.poll() is None, log.read_text()
        assert audited(database_file, event.message_id), log.read_text()
        for _ in range(100):  # handled, then deleted
            if waiting(queues) == 0:
                break
            await asyncio.sleep(0.1)
        assert waiting(queues) == 0

        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    assert f"kingdom poller: polling {queues.url}" in output
    assert "kingdom poller: stopped" in output


def audited(database_file: Path, message_id: str) -> bool:
    if not database_file.exists():
        return False
    with sqlite3.connect(database_file, timeout=5) as connection:
        try:
            rows = connection.execute(
                "SELECT count(*) FROM audit_entries WHERE message_id = ?", (message_id,)
            ).fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return False
    return bool(rows[0])


async def test_the_poller_process_refuses_a_queue_that_does_not_exist(
    sqs_endpoint: str, tmp_path: Path
) -> None:
    queues = make_queues(sqs_endpoint)
    missing = Queues(f"{queues.url}-missing", queues.dead_letter_url, queues.client)
    log = tmp_path / "poller.log"
    process = start_poller(
        f"sqlite+aiosqlite:///{tmp_path / 'kingdom.db'}", missing, sqs_endpoint, log
    )

    assert await asyncio.to_thread(process.wait, 60) == 1
    assert f"kingdom poller: cannot use {missing.url}" in log.read_text()
