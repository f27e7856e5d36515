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
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.messaging.sqs_client import sqs_client
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
    settings: WorkerSettings, database: Database, clock: Clock, tracer: Tracer = NO_TRACER
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
        transport = InProcessTransport(consumer)
    return EventDelivery(build_relay(settings, database, transport, clock, tracer))
