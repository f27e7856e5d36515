"""The outbox relay: committed events leave through here, and only through here.

One round claims the oldest unpublished messages, sends them and marks what
the transport accepted as published. A claim is exclusive where the feed can
make it so (PostgreSQL's SKIP LOCKED), so a second relay never sends the
same rows in the same round; SQLite's feed cannot, and serves one relay. What the transport refused stays
unpublished and goes again in a later round. A relay killed between sending
and marking sends again: delivery is at-least-once.

:meth:`OutboxRelay.run` is the loop around rounds. It drains while rounds come
back full, then sleeps until :meth:`OutboxRelay.wake` (an in-process commit, a
PostgreSQL NOTIFY) or the poll interval. A failing database or transport must
not kill it: it logs once per outage (the error's first line: no payloads, no
SQL parameters), backs off with full jitter and tries again. About once a
minute it also deletes published rows older than the retention.

Each message is sent inside a span of its own trace (its ``trace_parent``,
the request that committed it), and leaves naming that span as its parent,
so the worker's consumption hangs under the send. With no tracer configured
the messages go as they are, with their request's ``trace_parent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kingdom.services.ports import Clock
from kingdom.services.ports.outbox import EventTransport, OutboxFeed, OutboxMessage
from kingdom.services.retry import RetryPolicy
from kingdom.services.tracing import NO_TRACER, Span, Tracer

log = logging.getLogger("kingdom.relay")

RELAY_BACKOFF = RetryPolicy(base_delay=0.1, max_delay=5.0)
"""Waits after consecutive failures: 0.1 s, 0.2 s ... capped at 5 s, each jittered below
the cap. ``attempts`` means nothing here: the relay never gives up."""

PRUNE_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Round:
    """What one round did: messages claimed, published, and refused by the transport."""

    claimed: int
    published: int

    @property
    def refused(self) -> int:
        return self.claimed - self.published


class OutboxRelay:
    """Moves messages from an :class:`OutboxFeed` to an :class:`EventTransport`.

    ``wake`` must be called on the event loop's thread (asyncpg's listener
    callbacks and request handlers are).
    """

    def __init__(
        self,
        feed: OutboxFeed,
        transport: EventTransport,
        clock: Clock,
        *,
        batch_size: int = 100,
        retention: timedelta = timedelta(days=7),
        poll_interval: timedelta = timedelta(milliseconds=200),
        backoff: RetryPolicy = RELAY_BACKOFF,
        prune_every: timedelta = PRUNE_EVERY,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        if batch_size < 1:
            raise ValueError("a relay needs a batch size of at least 1")
        self._feed = feed
        self._transport = transport
        self._clock = clock
        self._batch_size = batch_size
        self._retention = retention
        self._poll_seconds = poll_interval.total_seconds()
        self._backoff = backoff
        self._prune_every = prune_every
        self._tracer = tracer
        self._woken = asyncio.Event()
        self._last_pruned: datetime | None = None

    def wake(self) -> None:
        """Look at the outbox now (something was committed), instead of at the next poll."""
        self._woken.set()

    async def relay_once(self) -> int:
        """One round; how many messages were published."""
        return (await self._round()).published

    async def prune(self) -> int:
        """Delete messages published longer ago than the retention; how many went."""
        pruned = await self._feed.prune(self._clock.now() - self._retention)
        if pruned:
            log.info("pruned %d published outbox messages", pruned)
        return pruned

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; the round in hand is finished first."""
        forward = asyncio.create_task(self._wake_on(stop))
        try:
            await self._loop(stop)
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forward

    async def _loop(self, stop: asyncio.Event) -> None:
        troubles = 0  # consecutive rounds that failed or had messages refused
        while not stop.is_set():
            self._woken.clear()  # a wake-up during the round makes another round
            try:
                await self._prune_when_due()
                done = await self._round()
            except Exception as error:  # never die; cancellation still passes
                troubles += 1
                if troubles == 1:
                    log.warning("relay round failed, backing off: %s", describe(error))
                await self._pause(stop, self._backoff.delay(troubles))
                continue
            if done.refused:
                troubles += 1
                if troubles == 1:
                    log.warning("the transport refused %d messages; resending later", done.refused)
                await self._pause(stop, self._backoff.delay(troubles))
                continue
            if troubles:
                log.info("relay recovered after %d failed rounds", troubles)
                troubles = 0
            if done.claimed < self._batch_size:  # drained: wait for news
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self._poll_seconds)

    async def _round(self) -> Round:
        async with self._feed.claim(self._batch_size) as batch:
            messages = batch.messages
            if not messages:
                return Round(0, 0)
            refused = set(await self._send(messages))
            accepted = [m.message_id for m in messages if m.message_id not in refused]
            if accepted:
                await batch.published(accepted)
            return Round(len(messages), len(accepted))

    async def _send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        """Hand ``messages`` to the transport, each in a span continuing its trace."""
        with contextlib.ExitStack() as spans:
            traced: list[OutboxMessage] = []
            opened: list[Span] = []
            for message in messages:
                span = spans.enter_context(
                    self._tracer.span(
                        f"publish {message.event_type}",
                        message.trace_parent,
                        kind="producer",
                        attributes={"messaging.message.id": message.message_id},
                    )
                )
                opened.append(span)
                # The consumer's span hangs under this one (unrecorded: as it was).
                if span.trace_parent is not None:
                    message = replace(message, trace_parent=span.trace_parent)
                traced.append(message)
            refused = await self._transport.send(traced)
            if refused:
                not_sent = set(refused)
                for span, message in zip(opened, traced, strict=True):
                    if message.message_id in not_sent:
                        span.set_error("refused by the transport")
            return refused

    async def _prune_when_due(self) -> None:
        now = self._clock.now()
        if self._last_pruned is not None and now - self._last_pruned < self._prune_every:
            return
        self._last_pruned = now  # a failed prune waits its turn too, not every round
        await self.prune()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        # Stopping interrupts the idle wait: the loop then sees ``stop`` and ends.
        await stop.wait()
        self._woken.set()

    @staticmethod
    async def _pause(stop: asyncio.Event, seconds: float) -> None:
        # Back-off waits for ``stop`` only: a burst of commits must not cut it short.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def describe(error: BaseException) -> str:
    """The error's type and first line: database errors carry SQL and parameters further down."""
    text = str(error).strip()
    first = text.splitlines()[0][:300] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
