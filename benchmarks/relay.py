"""Events/s through the outbox relay into SQS, and the latency from commit to the queue.

Usage: ./pants run benchmarks:relay -- [--events 5000] [--sqs-events 1000]
       [--latency-events 200] [--batch-size 100] [--poll-ms 200] [--sqs-call-ms 15]
       [--postgres URL | --no-postgres]

Starts a moto SQS server on 127.0.0.1 (a child process), then on a fresh
SQLite file and, if reachable, a fresh PostgreSQL database (created, migrated
and dropped again; default server postgresql://postgres@127.0.0.1:5432/postgres)
drains pre-committed outbox rows with the real relay (SqlOutboxFeed ->
SqsTransport) until none is left; events/s counts rows marked published:

  relay -> sqs      ``--sqs-events`` rows into the moto server, each checked to
                    arrive. Beside it, "sqs alone" sends as many in-memory
                    messages through SqsTransport with no database: moto's
                    ceiling on this machine (moto does work proportional to the
                    queue's length on every send, and is single-process Python:
                    it is far slower than SQS, hence fewer events here).
  relay -> sqs model ``--events`` rows through SqsTransport into a stand-in boto3
                    client that takes ``--sqs-call-ms`` per SendMessageBatch in
                    its thread (SQS's latency in-region) and accepts everything:
                    what the relay achieves when SQS, not moto, is the far end.
  relay -> nowhere  ``--events`` rows into a transport that sends nothing: the
                    database side alone.

Latency: a producer commits one event at a time (every 2-20 ms) while the
relay runs into moto; latency is from the commit to the message's
``SentTimestamp`` in the queue (ms resolution), p50/p99. The relay is woken by
PostgreSQL's NOTIFY (by an in-process wake-up on SQLite, as the embedded
server does) or only polls every ``--poll-ms``.

A drainer child process receives and deletes what arrives on the queue, as
workers would (a full queue would make moto slower still). Its "duplicates"
are messages received twice: resends by the relay, or moto redelivering.

Nothing here asserts a time; the target is printed as met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import boto3
from sqlalchemy import insert
from throwaway_postgres import throwaway_database

from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.migrations.runner import upgrade
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.outbox import EventSource, outbox, outbox_row
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.adapters.sql.outbox_wakeup import outbox_wakeups
from kingdom.adapters.system import SystemClock
from kingdom.domain.ledger.events import FundsDeposited
from kingdom.domain.shared import MessageMeta
from kingdom.services.ports.outbox import EventTransport, OutboxMessage
from kingdom.services.relay import OutboxRelay

TARGET_EVENTS_PER_SECOND = 2000
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


# --- the local SQS ---------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    # The children find our modules (and moto) through this process's sys.path.
    return {**os.environ, **AWS_ENV, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in a child process on a free port of 127.0.0.1; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=_child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def new_queue(endpoint: str) -> tuple[Any, str]:
    client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = client.create_queue(QueueName=f"relay-bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return client, url


class Drainer:
    """``python -m relay drain``: receives and deletes until ``expect`` distinct messages came."""

    def __init__(self, endpoint: str, queue_url: str, expect: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relay", "drain", endpoint, queue_url, str(expect)],
            env=_child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )

    def arrivals(self, timeout: float = 300) -> list[tuple[str, int]]:
        """(message id, SentTimestamp in ms) of every message received, duplicates included."""
        out, _ = self.process.communicate(timeout=timeout)
        return [(str(message_id), int(sent)) for message_id, sent in json.loads(out)]


def drain(endpoint: str, queue_url: str, expect: int, quiet_seconds: float = 20) -> None:
    """The drainer child: prints a JSON list of [message_id, SentTimestamp] when done."""
    client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    arrivals: list[tuple[str, int]] = []
    seen: set[str] = set()
    last = time.monotonic()

    def work() -> None:
        nonlocal last
        while len(seen) < expect:
            batch = client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["message_id"],
                AttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            if not batch:
                if time.monotonic() - last > quiet_seconds:
                    return  # nothing for a long while: give up, report what came
                continue
            client.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)
                ],
            )
            last = time.monotonic()
            for m in batch:
                message_id = m["MessageAttributes"]["message_id"]["StringValue"]
                arrivals.append((message_id, int(m["Attributes"]["SentTimestamp"])))
                seen.add(message_id)

    work()  # one receiver: two would race for the same messages in moto
    json.dump(arrivals, sys.stdout)


# --- databases and the outbox ----------------------------------------------------------------


@asynccontextmanager
async def fresh_postgres(server_url: str) -> AsyncIterator[str]:
    """A new, migrated database on ``server_url``, dropped on exit; yields its async URL."""
    async with throwaway_database(server_url) as database:
        await upgrade(database.url)
        yield database.url


async def postgres_unreachable(server_url: str) -> str | None:
    try:
        connection = await asyncpg.connect(server_url, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return str(error) or type(error).__name__
    await connection.close()
    return None


def _row(n: int, prefix: str) -> dict[str, Any]:
    event = FundsDeposited(
        meta=MessageMeta(f"{prefix}-{n:06d}", datetime.now(UTC)),
        account_id=f"acc-{n % 50}",
        amount=n,
        balance=n,
    )
    return outbox_row(event, EventSource("account", event.account_id, n))


async def fill(database: Database, count: int, prefix: str) -> None:
    rows = [_row(n, prefix) for n in range(count)]
    for start in range(0, count, 1000):
        async with database.writer.begin() as connection:
            await connection.execute(insert(outbox), rows[start : start + 1000])


class Nowhere(EventTransport):
    """Accepts everything and sends nothing: the database side's ceiling."""

    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        return ()


def new_relay(
    database: Database, transport: EventTransport, batch_size: int, poll_ms: int = 200
) -> OutboxRelay:
    return OutboxRelay(
        SqlOutboxFeed(database),
        transport,
        SystemClock(),
        batch_size=batch_size,
        poll_interval=timedelta(milliseconds=poll_ms),
    )


# --- the measurements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    database: str
    transport: str
    events: int
    seconds: float
    arrived: int | None = None
    duplicates: int | None = None

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True)
class Latency:
    database: str
    wake: str
    milliseconds: list[float]
    lost: int


async def drain_relay(relay: OutboxRelay) -> tuple[int, float]:
    started = time.perf_counter()
    total = 0
    while published := await relay.relay_once():
        total += published
    return total, time.perf_counter() - started


class ModelClient:
    """A boto3 SQS client stand-in: each SendMessageBatch takes ``seconds`` and succeeds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        time.sleep(self.seconds)  # blocking, as boto3 is: SqsTransport runs it in a thread
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


async def throughput(
    database: Database, name: str, endpoint: str, args: argparse.Namespace
) -> list[Throughput]:
    """The relay into moto, into the SQS model, and into nowhere."""
    await fill(database, args.sqs_events, f"t-{uuid.uuid4().hex[:6]}")
    client, queue_url = new_queue(endpoint)
    drainer = Drainer(endpoint, queue_url, args.sqs_events)
    transport = SqsTransport(client, queue_url, fifo=False)
    published, seconds = await drain_relay(new_relay(database, transport, args.batch_size))
    arrivals = await asyncio.to_thread(drainer.arrivals)
    distinct = len({message_id for message_id, _ in arrivals})
    rows = [
        Throughput(name, "relay -> sqs", published, seconds, distinct, len(arrivals) - distinct)
    ]

    model = SqsTransport(ModelClient(args.sqs_call_ms / 1000), "model", fifo=False)
    for path, sink in (("relay -> sqs model", model), ("relay -> nowhere", Nowhere())):
        await fill(database, args.events, f"n-{uuid.uuid4().hex[:6]}")
        published, seconds = await drain_relay(new_relay(database, sink, args.batch_size))
        rows.append(Throughput(name, path, published, seconds))
    return rows


async def transport_alone(endpoint: str, events: int, batch_size: int) -> Throughput:
    """SqsTransport sending in-memory messages, no database: what moto allows here."""
    client, queue_url = new_queue(endpoint)
    drainer = Drainer(endpoint, queue_url, events)
    transport = SqsTransport(client, queue_url, fifo=False)
    prefix = f"s-{uuid.uuid4().hex[:6]}"
    messages = [
        OutboxMessage(
            message_id=row["message_id"],
            event_type=row["event_type"],
            schema_version=row["schema_version"],
            payload=row["payload"],
            occurred_at=row["occurred_at"],
            aggregate_type=row["aggregate_type"],
            aggregate_id=row["aggregate_id"],
            aggregate_version=row["aggregate_version"],
        )
        for row in (_row(n, prefix) for n in range(events))
    ]
    started = time.perf_counter()
    refused = 0
    for start in range(0, events, batch_size):
        refused += len(await transport.send(messages[start : start + batch_size]))
    seconds = time.perf_counter() - started
    arrivals = await asyncio.to_thread(drainer.arrivals)
    distinct = len({message_id for message_id, _ in arrivals})
    return Throughput(
        "-", "sqs alone", events - refused, seconds, distinct, len(arrivals) - distinct
    )


async def latency(
    database: Database, name: str, endpoint: str, wake: str, count: int, poll_ms: int
) -> Latency:
    client, queue_url = new_queue(endpoint)
    drainer = Drainer(endpoint, queue_url, count)
    relay = new_relay(database, SqsTransport(client, queue_url, fifo=False), 100, poll_ms)
    stop = asyncio.Event()

    async def run_relay() -> None:
        if wake == "notify":
            async with outbox_wakeups(database, relay.wake):
                await relay.run(stop)
        else:
            await relay.run(stop)

    task = asyncio.create_task(run_relay())
    await asyncio.sleep(0.5)  # the listener connects, the relay goes idle
    committed: dict[str, float] = {}
    rng = random.Random(7)
    prefix = f"l-{uuid.uuid4().hex[:6]}"
    for n in range(count):
        row = _row(n, prefix)
        async with database.writer.begin() as connection:
            await connection.execute(insert(outbox), [row])
            committed[row["message_id"]] = time.time()  # just before COMMIT
        if wake == "in-process":
            relay.wake()
        await asyncio.sleep(rng.uniform(0.002, 0.02))
    arrivals = await asyncio.to_thread(drainer.arrivals)
    stop.set()
    await task
    first: dict[str, int] = {}
    for message_id, sent in arrivals:
        first[message_id] = min(sent, first.get(message_id, sent))
    milliseconds = [(first[i] / 1000 - t) * 1000 for i, t in committed.items() if i in first]
    return Latency(name, wake, milliseconds, len(committed) - len(milliseconds))


async def measure(
    name: str, url: str, endpoint: str, args: argparse.Namespace
) -> tuple[list[Throughput], list[Latency]]:
    database = create_database(url, pool_size=4)
    try:
        rows = await throughput(database, name, endpoint, args)
        wakes = ("notify", "poll") if database.dialect == "postgresql" else ("in-process", "poll")
        latencies = [
            await latency(database, name, endpoint, wake, args.latency_events, args.poll_ms)
            for wake in wakes
        ]
        return rows, latencies
    finally:
        await database.dispose()


# --- the report ------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(rows: list[Throughput], latencies: list[Latency], skipped: list[str]) -> None:
    print("\nthroughput (rows marked published per second)")
    print(f"{'database':<10} {'path':<19} {'events':>7} {'seconds':>8} {'events/s':>9}  queue")
    for row in rows:
        queue = (
            f"{row.arrived} arrived, {row.duplicates} duplicates" if row.arrived is not None else ""
        )
        print(
            f"{row.database:<10} {row.transport:<19} {row.events:>7} {row.seconds:>8.2f}"
            f" {row.per_second:>9.0f}  {queue}"
        )
    print("\nlatency from commit to the queue (ms)")
    print(f"{'database':<10} {'wake-up':<11} {'events':>7} {'p50':>7} {'p99':>7} {'max':>7}  lost")
    for entry in latencies:
        ms = entry.milliseconds or [float("nan")]
        print(
            f"{entry.database:<10} {entry.wake:<11} {len(entry.milliseconds):>7}"
            f" {statistics.median(ms):>7.1f} {_percentile(ms, 0.99):>7.1f} {max(ms):>7.1f}"
            f"  {entry.lost}"
        )
    print("\ntargets")
    ceiling = next((row for row in rows if row.transport == "sqs alone"), None)
    for row in rows:
        if not row.transport.startswith("relay"):
            continue
        met = row.per_second >= TARGET_EVENTS_PER_SECOND and row.arrived in (None, row.events)
        where = row.transport.removeprefix("relay -> ")
        where += ", all arrived" if row.arrived is not None else ""
        share = (
            f", {row.per_second / ceiling.per_second:.0%} of sqs alone"
            if ceiling and row.arrived is not None
            else ""
        )
        print(
            f"  {row.database}: >= {TARGET_EVENTS_PER_SECOND} events/s relayed ({where}):"
            f" {'met' if met else 'missed'} ({row.per_second:.0f}/s{share})"
        )
    for reason in skipped:
        print(f"  skipped: {reason}")


async def main_async(args: argparse.Namespace) -> None:
    os.environ.update(AWS_ENV)
    rows: list[Throughput] = []
    latencies: list[Latency] = []
    skipped: list[str] = []
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as workdir:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"moto SQS at {endpoint}; load average {load} on {os.cpu_count()} cores")
        sqlite = f"sqlite+aiosqlite:///{Path(workdir) / 'kingdom.db'}"
        await upgrade(sqlite)
        print("sqs alone ...", flush=True)
        rows.append(await transport_alone(endpoint, args.sqs_events, args.batch_size))
        print("sqlite ...", flush=True)
        found = await measure("sqlite", sqlite, endpoint, args)
        rows += found[0]
        latencies += found[1]
        if args.no_postgres:
            skipped.append("PostgreSQL (--no-postgres)")
        elif (problem := await postgres_unreachable(args.postgres)) is not None:
            skipped.append(f"PostgreSQL at {args.postgres}: {problem}")
        else:
            print("postgres ...", flush=True)
            async with fresh_postgres(args.postgres) as url:
                found = await measure("postgres", url, endpoint, args)
                rows += found[0]
                latencies += found[1]
    report(rows, latencies, skipped)


def main() -> None:
    if sys.argv[1:2] == ["drain"]:
        endpoint, queue_url, expect = sys.argv[2:5]
        drain(endpoint, queue_url, int(expect))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--sqs-events", type=int, default=1000)
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--sqs-call-ms", type=float, default=15.0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--poll-ms", type=int, default=200)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, metavar="URL")
    parser.add_argument("--no-postgres", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
