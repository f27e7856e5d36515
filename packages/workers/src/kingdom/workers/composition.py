"""The workers' composition root: settings, database and consumer, built once per container.

Lambda keeps a container (a process) warm between invocations, so what is
expensive — reading the settings, the engine and its pooled connections,
binding the handlers — is built at the first invocation (the cold start) and
kept in this module. :func:`worker` is that lazy singleton; the local poller
builds it up front so that a bad configuration fails at start-up.

An async SQLAlchemy engine's connections belong to the event loop they were
opened on, so the worker owns *one* loop for its lifetime, and every
invocation runs on it (``loop.run_until_complete``): ``asyncio.run`` per
invocation would open a new loop each time, stranding the pool's connections
on a closed one.

Like the server, a SQLite database (the embedded default) is migrated here;
a shared PostgreSQL is migrated on purpose by an operator, never by a worker.

With an OTLP endpoint configured (``KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT`` or
OpenTelemetry's own variables) consuming a message is a span, exported as
``kingdom-worker``; either way the container's log handlers put the trace
id on each record written while a message is consumed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass

from kingdom.adapters.migrations import runner
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.adapters.system import SystemClock
from kingdom.adapters.telemetry import Tracing, configure_tracing
from kingdom.adapters.trace_logging import trace_ids_in_logs
from kingdom.services.consumers import build_consumer
from kingdom.services.tracing import NO_TRACER, TRACER
from kingdom.workers.consuming import EventConsumer
from kingdom.workers.mail import describe_mail, mailer_for
from kingdom.workers.settings import WorkerSettings

logger = logging.getLogger(__name__)


WORKER_SERVICE = "kingdom-worker"
"""The service name of the workers' spans (unless ``OTEL_SERVICE_NAME`` says otherwise)."""


@dataclass(frozen=True)
class Worker:
    """Everything a batch needs: the consumer, and the loop its database lives on."""

    settings: WorkerSettings
    database: Database
    consumer: EventConsumer
    loop: asyncio.AbstractEventLoop
    tracing: Tracing | None = None
    """The span exporter, when an OTLP endpoint is configured."""

    def flush_spans(self) -> None:
        """Export the spans ended so far (after each Lambda invocation)."""
        if self.tracing is not None:
            self.tracing.flush()

    def close(self) -> None:
        """Close the database's connections and the loop (the poller, at exit)."""
        try:
            self.loop.run_until_complete(self.database.dispose())
        finally:
            self.loop.close()
            if self.tracing is not None:
                self.tracing.shutdown()


def build_worker(settings: WorkerSettings) -> Worker:
    """A worker for ``settings``, with a new event loop of its own (not made current)."""
    loop = asyncio.new_event_loop()
    tracing = None
    try:
        url = settings.resolved_database_url
        loop.run_until_complete(runner.prepare_embedded(url))
        database = create_database(url, pool_size=settings.database_pool_size)
        tracing = configure_tracing(settings.otel_traces_endpoint, WORKER_SERVICE)
        consumer = build_consumer(
            uow_factory=lambda: SqlUnitOfWork(database),
            dependencies={
                "clock": SystemClock(),
                "mailer": mailer_for(settings),
                TRACER: tracing.tracer if tracing is not None else NO_TRACER,
            },
        )
        # Where reset codes go; without KINGDOM_SMTP_URL a Lambda's folder is lost with it.
        logger.info("%s", describe_mail(settings))
    except BaseException:
        loop.close()
        if tracing is not None:
            tracing.shutdown()
        raise
    return Worker(settings, database, consumer, loop, tracing)


_worker: Worker | None = None
_lock = threading.Lock()


def worker(settings: WorkerSettings | None = None) -> Worker:
    """This container's worker: built on the first call and reused by every later one.

    The first call reads ``settings``, or else the ``KINGDOM_*`` variables
    (the only place the workers read the environment); later calls ignore
    the argument.
    """
    global _worker
    with _lock:
        if _worker is None:
            _worker = build_worker(settings or WorkerSettings.from_environ(os.environ))
            # The handlers Lambda's runtime (or the poller) installed are in place by now.
            trace_ids_in_logs("kingdom")
        return _worker


def shutdown() -> None:
    """Close this container's worker, if one was built (the next :func:`worker` builds anew)."""
    global _worker
    with _lock:
        built, _worker = _worker, None
    if built is not None:
        built.close()
