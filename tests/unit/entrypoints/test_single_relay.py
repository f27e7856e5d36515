"""On one SQLite file only one server process relays: a second would send almost every event twice."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kingdom.adapters.sql.engine import create_database
from kingdom.adapters.system import SystemClock
from kingdom.entrypoints.event_delivery import event_delivery
from kingdom.workers.settings import WorkerSettings


async def test_the_first_process_to_lock_the_sqlite_file_relays_and_a_second_does_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'kingdom.db'}")
    try:
        first = event_delivery(WorkerSettings(data_dir=tmp_path), database, SystemClock())
        second = event_delivery(WorkerSettings(data_dir=tmp_path), database, SystemClock())
        assert first.single_relay_lock == tmp_path / "kingdom.db.relay-lock"
        with caplog.at_level(logging.INFO, logger="kingdom.entrypoints.event_delivery"):
            # flock locks belong to open files: a second one stands in for a second process.
            async with first.running(database), second.running(database):
                pass
            assert caplog.messages == [
                "another worker process relays this SQLite database's outbox"
            ]
            caplog.clear()
            # Once the first let go, the next to start relays.
            async with second.running(database):
                pass
            assert caplog.messages == []
    finally:
        await database.dispose()


def test_postgres_needs_no_lock() -> None:
    database = create_database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert event_delivery(WorkerSettings(), database, SystemClock()).single_relay_lock is None
