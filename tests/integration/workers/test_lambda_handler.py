"""The Lambda entry point as Lambda calls it: one container, cold start, then warm invocations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kingdom.workers import composition
from kingdom.workers.lambda_handler import handle
from unit.workers.support import deposit, envelope, sqs_record


@pytest.fixture()
def container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh container configured for the embedded default; its data directory."""
    data_dir = tmp_path / "data"
    for name in ("KINGDOM_DATABASE_URL", "KINGDOM_SQS_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KINGDOM_DATA_DIR", str(data_dir))
    composition.shutdown()
    yield data_dir
    composition.shutdown()


def audit_count(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM audit_entries").fetchone()[0])


def test_the_first_invocation_builds_the_worker_and_later_ones_reuse_it(container: Path) -> None:
    first, second = deposit(1), deposit(2)

    response = handle({"Records": [sqs_record(envelope(first))]}, None)
    worker = composition.worker()
    again = handle({"Records": [sqs_record(envelope(second)), sqs_record(envelope(first))]}, None)

    assert response == again == {"batchItemFailures": []}
    assert composition.worker() is worker  # one database, one loop, per container
    assert not worker.loop.is_closed()
    # The embedded default was created and migrated at the cold start;
    # the redelivered event was audited once.
    assert audit_count(container / "kingdom.db") == 2


def test_a_poison_record_fails_alone_through_the_real_consumer(container: Path) -> None:
    event = deposit(3)

    response = handle(
        {"Records": [sqs_record("not json", "poison"), sqs_record(envelope(event), "fine")]}, None
    )

    assert response == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert audit_count(container / "kingdom.db") == 1
