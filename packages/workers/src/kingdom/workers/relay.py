"""The standalone outbox relay: ``python -m kingdom.workers.relay`` (``./pants run packages/workers:relay``).

Publishes the outbox to ``$KINGDOM_SQS_QUEUE_URL`` until SIGINT or SIGTERM,
finishing the batch in hand. Woken by PostgreSQL's NOTIFY, else it polls
every ``KINGDOM_RELAY_POLL_MS``. Several may run against one database (rows
are claimed with SKIP LOCKED). Exit status: 0 stopped, 2 bad configuration.

:func:`build_relay` and :func:`serve_relay` are the composition the server
reuses for its in-process relay.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import NoReturn

from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.messaging.sqs_client import sqs_client
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.adapters.sql.outbox_wakeup import outbox_wakeups
from kingdom.adapters.system import SystemClock
from kingdom.adapters.telemetry import configure_tracing
from kingdom.services.ports import Clock
from kingdom.services.ports.outbox import EventTransport
from kingdom.services.relay import OutboxRelay
from kingdom.services.tracing import NO_TRACER, Tracer
from kingdom.workers.composition import WORKER_SERVICE
from kingdom.workers.console import log_to_stderr
from kingdom.workers.settings import SettingsError, WorkerSettings

BAD_CONFIGURATION = 2
NO_QUEUE = (
    "KINGDOM_SQS_QUEUE_URL is not set: the embedded server relays in-process;"
    " a standalone relay needs a queue"
)
RELAY_POOL_SIZE = 2
"""Connections the relay keeps: one claim at a time, plus pruning (the listener has its own)."""


def build_relay(
    settings: WorkerSettings,
    database: Database,
    transport: EventTransport,
    clock: Clock | None = None,
    tracer: Tracer = NO_TRACER,
) -> OutboxRelay:
    """The relay from ``database``'s outbox to ``transport``, tuned by ``settings``;
    each send a span through ``tracer``."""
    clock = clock or SystemClock()
    return OutboxRelay(
        SqlOutboxFeed(database, clock),
        transport,
        clock,
        batch_size=settings.relay_batch_size,
        retention=timedelta(seconds=settings.outbox_retention_seconds),
        poll_interval=timedelta(milliseconds=settings.relay_poll_ms),
        tracer=tracer,
    )


async def serve_relay(relay: OutboxRelay, database: Database, stop: asyncio.Event) -> None:
    """Run ``relay`` until ``stop``, woken by PostgreSQL's NOTIFY (nothing extra on SQLite)."""
    async with outbox_wakeups(database, relay.wake):
        await relay.run(stop)


def run(environ: Mapping[str, str]) -> int:
    try:
        settings = WorkerSettings.from_environ(environ)
    except SettingsError as error:
        print(f"kingdom relay: invalid setting {error}", file=sys.stderr)
        return BAD_CONFIGURATION
    if not settings.sqs_queue_url:
        print(f"kingdom relay: {NO_QUEUE}", file=sys.stderr)
        return BAD_CONFIGURATION
    log_to_stderr()
    asyncio.run(_relay(settings, settings.sqs_queue_url))
    return 0


async def _relay(settings: WorkerSettings, queue_url: str) -> None:
    database = create_database(settings.resolved_database_url, pool_size=RELAY_POOL_SIZE)
    tracing = configure_tracing(settings.otel_traces_endpoint, WORKER_SERVICE)
    try:
        transport = SqsTransport(
            sqs_client(settings.aws_endpoint_url), queue_url, fifo=settings.fifo
        )
        tracer = tracing.tracer if tracing is not None else NO_TRACER
        relay = build_relay(settings, database, transport, tracer=tracer)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        shown = database.engine.url.render_as_string(hide_password=True)
        print(f"kingdom relay: publishing the outbox of {shown} to {queue_url}", flush=True)
        await serve_relay(relay, database, stop)
        print("kingdom relay: stopped", flush=True)
    finally:
        await database.dispose()
        if tracing is not None:
            tracing.shutdown()  # the last spans go before the process does


def main() -> NoReturn:
    sys.exit(run(os.environ))


if __name__ == "__main__":
    main()
