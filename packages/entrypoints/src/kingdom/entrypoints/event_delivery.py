"""Committed events leaving the server process: its outbox relay and, embedded, its workers.

With ``KINGDOM_SQS_QUEUE_URL`` set, the relay publishes the outbox to that
queue and the workers run elsewhere (Lambda, or ``packages/workers:poller``).
Without it (the zero-configuration default) the relay hands each message to
the same worker handlers in this process (:class:`InProcessTransport`), with
the same inbox, so their effects show without AWS; they send mail through
:func:`kingdom.workers.mail.mailer_for` (``KINGDOM_SMTP_URL``, else the mail
folder), as the Lambda workers do. ``KINGDOM_RELAY=off``
leaves relaying to another process (``packages/workers:relay``). Every
uvicorn worker runs its own relay: claims are exclusive, so several relays
never publish a row twice in one round.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.messaging.sqs_client import sqs_client
from kingdom.adapters.metrics.worker import WorkerMetrics
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.services.consumers import build_consumer
from kingdom.services.ports import Clock, EventTransport
from kingdom.services.relay import OutboxRelay
from kingdom.services.tracing import NO_TRACER, TRACER, Tracer
from kingdom.workers.in_process import InProcessTransport
from kingdom.workers.mail import describe_mail, mailer_for
from kingdom.workers.relay import build_relay, serve_relay
from kingdom.workers.settings import WorkerSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventDelivery:
    relay: OutboxRelay | None
    """None with ``KINGDOM_RELAY=off``."""
    single_relay_lock: Path | None = None
    """SQLite: a file only one process may lock; only its holder relays (see :func:`_sole`)."""

    @property
    def wake(self) -> Callable[[], None] | None:
        """For the unit of work to call after each commit that wrote outbox rows."""
        return self.relay.wake if self.relay is not None else None

    @contextlib.asynccontextmanager
    async def running(self, database: Database) -> AsyncIterator[None]:
        """Relay in the background while the block runs; finish the batch in hand on exit."""
        if self.relay is None:
            yield
            return
        with _sole(self.single_relay_lock) as sole:
            if not sole:
                logger.info("another worker process relays this SQLite database's outbox")
                yield
                return
            async with self._relaying(database):
                yield

    @contextlib.asynccontextmanager
    async def _relaying(self, database: Database) -> AsyncIterator[None]:
        assert self.relay is not None
        stop = asyncio.Event()
        task = asyncio.create_task(serve_relay(self.relay, database, stop), name="outbox relay")
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                logger.warning("the outbox relay did not stop within 10 s; cancelled")


@contextlib.contextmanager
def _sole(lock: Path | None) -> Iterator[bool]:
    """Whether this process holds ``lock`` (always, without one) until the block ends.

    A relay reads SQLite's outbox without a lock (see the SQL outbox feed),
    so two relays on one file would send almost every event twice: with
    several uvicorn workers on the embedded database, the first to lock the
    file relays and the others leave it be (their commits reach it within
    ``KINGDOM_RELAY_POLL_MS``). The lock goes with the process, however it ends.
    """
    if lock is None:
        yield True
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def describe(settings: WorkerSettings) -> str:
    """Where committed events go, for the start-up line."""
    if not settings.relay:
        return "events: relayed by another process (KINGDOM_RELAY=off)"
    if settings.sqs_queue_url:
        return f"events: relayed to {settings.sqs_queue_url}"
    return "events: handled by in-process workers (no KINGDOM_SQS_QUEUE_URL); " + describe_mail(
        settings
    )


def event_delivery(
    settings: WorkerSettings,
    database: Database,
    clock: Clock,
    tracer: Tracer = NO_TRACER,
    metrics: WorkerMetrics | None = None,
) -> EventDelivery:
    """The relay ``settings`` ask for; its sends, and the in-process workers' consumption,
    are spans through ``tracer``."""
    if not settings.relay:
        return EventDelivery(None)
    transport: EventTransport
    if settings.sqs_queue_url:
        client = sqs_client(settings.aws_endpoint_url)
        transport = SqsTransport(client, settings.sqs_queue_url, fifo=settings.fifo)
    else:
        consumer = build_consumer(
            uow_factory=lambda: SqlUnitOfWork(database),
            dependencies={"clock": clock, "mailer": mailer_for(settings), TRACER: tracer},
        )
        transport = InProcessTransport(consumer, metrics=metrics)
    return EventDelivery(
        build_relay(settings, database, transport, clock, tracer), _relay_lock(database)
    )


def _relay_lock(database: Database) -> Path | None:
    """Beside a SQLite file (``kingdom.db.relay-lock``); PostgreSQL needs none (SKIP LOCKED)."""
    path = database.engine.url.database or ""
    if database.dialect != "sqlite" or path in ("", ":memory:") or path.startswith("file:"):
        return None
    return Path(f"{path}.relay-lock")
