"""The relay as a process: killed at random, restarted, and nothing is lost."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from integration.workers.conftest import Drain, fill_outbox, published_count
from integration.workers.sqs import Queues, aws_environment, make_queues
from kingdom.adapters.sql.engine import Database
from kingdom.workers import relay

EVENTS = 1000
KILLS = 6


def start_relay(
    database: Database, queues: Queues, endpoint: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **aws_environment(endpoint),
        # The child finds first-party code through the test's sys.path.
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "KINGDOM_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
        "KINGDOM_SQS_QUEUE_URL": queues.url,
        # Small batches: many rounds, so a kill lands between a send and its commit.
        "KINGDOM_RELAY_BATCH_SIZE": "10",
        "KINGDOM_RELAY_POLL_MS": "50",
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "kingdom.workers.relay"], env=env, stdout=output, stderr=output
        )


async def wait_for_progress(
    database: Database, beyond: int, process: subprocess.Popen[bytes]
) -> int:
    """Wait until more than ``beyond`` rows are published (or the relay died); how many are."""
    for _ in range(600):
        published = await published_count(database)
        if published > beyond or published == EVENTS or process.poll() is not None:
            return published
        await asyncio.sleep(0.05)
    return await published_count(database)


async def test_a_relay_killed_again_and_again_loses_nothing(
    outbox_database: Database, sqs_endpoint: str, tmp_path: Path
) -> None:
    ids = await fill_outbox(outbox_database, EVENTS)
    queues = make_queues(sqs_endpoint)
    log = tmp_path / "relay.log"
    with Drain(queues) as drain:
        await kill_and_restart(outbox_database, queues, sqs_endpoint, log)
        for _ in range(600):  # the last ones may still be on their way to the drain
            if set(drain.message_ids()) >= set(ids):
                break
            await asyncio.sleep(0.05)

    received = drain.message_ids()
    assert set(received) == set(ids)  # every message reached the queue: none lost
    duplicates = sum(received.values()) - len(received)
    print(f"{KILLS} kills: {len(received)} messages arrived, {duplicates} duplicates")


async def kill_and_restart(database: Database, queues: Queues, endpoint: str, log: Path) -> None:
    """SIGKILL the relay at random points :data:`KILLS` times, then let one finish and stop."""
    rng = random.Random()
    published, kills = 0, 0
    while kills < KILLS:
        process = start_relay(database, queues, endpoint, log)
        published = await wait_for_progress(database, published, process)
        assert process.poll() is None, log.read_text()
        await asyncio.sleep(rng.uniform(0, 0.15))  # somewhere in a round, or between two
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        kills += 1
        published = await published_count(database)
        print(f"kill {kills}: {published} of {EVENTS} marked published")

    process = start_relay(database, queues, endpoint, log)
    try:
        while await wait_for_progress(database, published, process) < EVENTS:
            assert process.poll() is None, log.read_text()
            published = await published_count(database)
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=30)
    assert status == 0, log.read_text()  # SIGTERM: the batch in hand finished, a clean exit
    assert "kingdom relay: stopped" in log.read_text()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "a standalone relay needs a queue"),
        ({"KINGDOM_SQS_QUEUE_URL": "ftp://queue"}, "KINGDOM_SQS_QUEUE_URL"),
        ({"KINGDOM_SQS_QUEUE_URL": "http://q", "KINGDOM_RELAY_BATCH_SIZE": "0"}, "BATCH_SIZE"),
    ],
)
def test_a_relay_without_a_usable_configuration_says_why(
    environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert relay.run(environ) == 2
    assert message in capsys.readouterr().err
