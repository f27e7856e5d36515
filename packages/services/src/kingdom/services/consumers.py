"""The idempotent consumer: runs the workers' handlers on each delivered event, once each.

Events reach the workers at least once (see :mod:`kingdom.services.ports.outbox`),
so :meth:`Consumer.consume` may see the same event many times, even several
deliveries at once. For each handler subscribed to the event's class (or to a
base class, as on the message bus) it:

1. opens a fresh unit of work and asks its inbox whether this handler already
   processed this message; if so, skips it (a redelivery);
2. otherwise stages the :class:`~kingdom.services.ports.InboxEntry` in that
   unit of work and runs the handler on it. The handler's own
   ``await uow.commit()`` writes the entry with its effects, in one
   transaction: no entry without the effects, no effects without the entry.
   A handler that commits nothing leaves no entry (it did nothing to repeat);
3. retries a :class:`~kingdom.services.ports.ConcurrencyConflict`: two
   deliveries racing both stage the entry, the loser's commit clashes on the
   inbox key and is rolled back whole, and its retry finds the winner's entry.

A handler that fails does not stop the others; once all ran,
:class:`HandlersFailed` names the failed ones, so the worker reports the
message as failed and the queue delivers it again, when the handlers that
succeeded are skipped by the inbox. Events the handlers commit go to the
outbox with everything else; the consumer does not handle them in-process.

Handlers are plain async functions as on the bus, with dependencies bound by
parameter name once (:func:`~kingdom.services.injection.bind`); every worker
handler takes ``uow`` (its effects and its inbox entry are one commit), and
one may also take ``trace_parent``, given per delivery. Consuming a message
is a span under that ``trace_parent``, through the tracer among the
dependencies (``"tracer"``; none: no spans).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from kingdom.domain.shared import Event
from kingdom.services import audit, mail
from kingdom.services.injection import BoundHandler, DependencyError, Handler, bind
from kingdom.services.ports import Clock, ConcurrencyConflict, UnitOfWork
from kingdom.services.ports.inbox import InboxEntry
from kingdom.services.retry import RetryPolicy
from kingdom.services.tracing import tracer_in

logger = logging.getLogger(__name__)

UnitOfWorkFactory = Callable[[], UnitOfWork]

TRACE_PARENT: Final = "trace_parent"
"""The parameter that receives the delivery's W3C ``traceparent`` (or ``None``)."""


def _merged(
    *tables: Mapping[type[Event], tuple[Handler, ...]],
) -> dict[type[Event], tuple[Handler, ...]]:
    """One subscription table from several: an event's handlers in the tables' order."""
    merged: dict[type[Event], tuple[Handler, ...]] = {}
    for table in tables:
        for kind, handlers in table.items():
            merged[kind] = merged.get(kind, ()) + tuple(handlers)
    return merged


WORKER_HANDLERS: Mapping[type[Event], tuple[Handler, ...]] = _merged(audit.HANDLERS, mail.HANDLERS)
"""What the workers do with each delivered event: record it in the audit trail, and send
the mail its commit queued (:mod:`kingdom.services.mail`). An event may have both (a
registration is audited and mails its welcome): each runs once, on its own inbox entry."""


class HandlersFailed(Exception):
    """Some handlers failed on a message; the others ran (and are not run again)."""

    def __init__(self, message_id: str, failures: Mapping[str, BaseException]) -> None:
        self.message_id = message_id
        self.failures = dict(failures)
        names = ", ".join(self.failures)
        super().__init__(f"message {message_id!r}: {len(self.failures)} handler(s) failed: {names}")


class _Subscriber:
    """A bound handler under its inbox name (module and qualified name: stable, unique)."""

    def __init__(self, handler: Handler, dependencies: Mapping[str, object]) -> None:
        self.bound: BoundHandler = bind(handler, {**dependencies, TRACE_PARENT: None})
        if not self.bound.wants_uow:
            raise DependencyError(
                f"worker handler {self.bound.name} must take 'uow': "
                "its inbox entry commits with its effects"
            )
        module = getattr(handler, "__module__", None) or "?"
        self.name = f"{module}.{self.bound.name}"
        self.wants_trace_parent = TRACE_PARENT in self.bound.dependencies

    async def __call__(self, event: Event, uow: UnitOfWork, trace_parent: str | None) -> None:
        dependencies = dict(self.bound.dependencies)
        if self.wants_trace_parent:
            dependencies[TRACE_PARENT] = trace_parent
        await self.bound.handler(event, uow=uow, **dependencies)


class Consumer:
    """Runs the subscribed handlers on delivered events, each at most once per message."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        handlers: Mapping[type[Event], Iterable[Handler]],
        dependencies: Mapping[str, object],
        retry: RetryPolicy | None = None,
    ) -> None:
        """Bind every handler now; ``dependencies["clock"]`` stamps the inbox entries.

        An unknown dependency name, a handler without ``uow`` or a missing
        clock raises :class:`~kingdom.services.injection.DependencyError`.
        """
        if TRACE_PARENT in dependencies:
            raise DependencyError(f"{TRACE_PARENT!r} is given per delivery, not a dependency")
        clock = dependencies.get("clock")
        if not isinstance(clock, Clock):
            raise DependencyError("the consumer needs a 'clock' (a Clock) among its dependencies")
        self._clock = clock
        self._tracer = tracer_in(dependencies)
        self._uow_factory = uow_factory
        self._retry = retry or RetryPolicy()
        self._subscribers: dict[type[Event], tuple[_Subscriber, ...]] = {
            kind: tuple(_Subscriber(handler, dependencies) for handler in subscribed)
            for kind, subscribed in handlers.items()
        }

    def subscribers(self, kind: type[Event]) -> tuple[str, ...]:
        """The inbox names of the handlers an event of class ``kind`` is given to, in order."""
        return tuple(subscriber.name for subscriber in self._subscribed(kind))

    async def consume(self, event: Event, *, trace_parent: str | None = None) -> None:
        """Run each subscribed handler on ``event`` unless it already did; see the module doc.

        Raises :class:`HandlersFailed` after running them all if any failed.
        """
        with self._tracer.span(
            f"consume {type(event).__name__}",
            trace_parent,
            kind="consumer",
            attributes={"messaging.message.id": event.message_id},
        ):
            await self._consume(event, trace_parent)

    async def _consume(self, event: Event, trace_parent: str | None) -> None:
        failures: dict[str, BaseException] = {}
        for subscriber in self._subscribed(type(event)):
            try:
                await self._run_once(subscriber, event, trace_parent)
            except Exception as error:  # not cancellation: then nobody waits
                logger.exception(
                    "worker handler %s failed on %s %s",
                    subscriber.name,
                    type(event).__name__,
                    event.message_id,
                )
                failures[subscriber.name] = error
        if failures:
            raise HandlersFailed(event.message_id, failures)

    def _subscribed(self, kind: type[Event]) -> list[_Subscriber]:
        # Along the MRO, as the bus does; a handler subscribed twice runs once
        # (its inbox entry is one).
        found: dict[str, _Subscriber] = {}
        for cls in kind.__mro__:
            for subscriber in self._subscribers.get(cls, ()):
                found.setdefault(subscriber.name, subscriber)
        return list(found.values())

    async def _run_once(
        self, subscriber: _Subscriber, event: Event, trace_parent: str | None
    ) -> None:
        failures = 0
        while True:
            uow = self._uow_factory()
            try:
                if await uow.inbox.contains(event.message_id, subscriber.name):
                    logger.debug("%s already processed %s", subscriber.name, event.message_id)
                    return
                # Staged before the handler runs, so the handler's commit writes it.
                uow.inbox.add(InboxEntry(event.message_id, subscriber.name, self._clock.now()))
                await subscriber(event, uow, trace_parent)
                return
            except ConcurrencyConflict:
                failures += 1
                if failures >= self._retry.attempts:
                    raise
                logger.info(
                    "%s lost a race on %s; retry %d", subscriber.name, event.message_id, failures
                )
            finally:
                # Ends the inbox lookup's transaction when the handler never
                # committed (a skip, a failure); a no-op after a commit.
                await uow.rollback()
            await self._retry.backoff(failures)


def build_consumer(
    *,
    uow_factory: UnitOfWorkFactory,
    dependencies: Mapping[str, object],
    handlers: Mapping[type[Event], Iterable[Handler]] = WORKER_HANDLERS,
    retry: RetryPolicy | None = None,
) -> Consumer:
    """The workers' consumer: :data:`WORKER_HANDLERS` (by default) bound to ``dependencies``."""
    return Consumer(
        uow_factory=uow_factory, handlers=handlers, dependencies=dependencies, retry=retry
    )
