"""Fixtures for the workers' integration tests: the moto SQS server and a filled outbox."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from integration.adapters.support import schema_database
from integration.workers.sqs import Queues, sqs_endpoint
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.outbox import EventSource, outbox, outbox_row
from kingdom.domain.ledger.events import FundsDeposited
from kingdom.domain.shared import MessageMeta

__all__ = ["sqs_endpoint"]  # a session fixture: one moto server for every test

OCCURRED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture()
async def outbox_database(database_url: str) -> AsyncIterator[Database]:
    """A fresh, migrated database (SQLite and PostgreSQL) whose outbox the test fills."""
    async with schema_database(database_url) as database:
        yield database


def deposit(n: int, prefix: str = "evt", accounts: int = 3) -> FundsDeposited:
    """The ``n``-th of a run of deposits, spread over ``accounts`` accounts."""
    return FundsDeposited(
        meta=MessageMeta(f"{prefix}-{n:05d}", OCCURRED + timedelta(seconds=n)),
        account_id=f"acc-{n % accounts}",
        amount=n,
        balance=n * 10,
    )


async def fill_outbox(
    database: Database, count: int, *, prefix: str = "evt", per_commit: int = 500
) -> list[str]:
    """Commit ``count`` deposit events to the outbox, as a unit of work would; their ids in order."""
    ids: list[str] = []
    rows = []
    for n in range(1, count + 1):
        event = deposit(n, prefix)
        rows.append(outbox_row(event, EventSource("account", event.account_id, n)))
        ids.append(event.message_id)
    for start in range(0, len(rows), per_commit):
        async with database.writer.begin() as connection:
            await connection.execute(insert(outbox), rows[start : start + per_commit])
    return ids


async def published_count(database: Database) -> int:
    query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_not(None))
    async with database.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


class Drain:
    """Receives and deletes everything arriving on a queue, in a thread, as a worker would.

    moto's SQS does work proportional to the queue's length on every send and
    receive: a queue left to fill with thousands of messages gets slow enough
    to outlast the visibility timeout. Draining as messages arrive keeps it short.
    """

    def __init__(self, queues: Queues) -> None:
        self.queues = queues
        self.received: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-drain", daemon=True)

    def __enter__(self) -> Drain:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def message_ids(self) -> Counter[str]:
        return Counter(m["MessageAttributes"]["message_id"]["StringValue"] for m in self.received)

    def _run(self) -> None:
        client, url = self.queues.client, self.queues.url
        while not self._stop.is_set():
            batch = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if batch:
                client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(batch)
                    ],
                )
                self.received += batch
