"""The embedded default's transport: outbox messages go straight to the workers' consumer.

With no queue configured, the relay hands each batch to this transport,
which decodes the events and runs the worker-side handlers in this process,
so the server shows the workers' effects (the audit trail) with zero
configuration. It is the same consumer the Lambda handler uses, so a message
delivered twice is still handled once (the consumer's inbox).

A message that fails — it does not decode, or a handler raised — is
reported back as not sent: it stays unpublished and the relay offers it
again on a later pass.

Each message is consumed inside its own trace (its ``trace_parent``), so
what the handlers commit and log, and the warning about a failure, carry it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from kingdom.adapters.metrics.worker import WorkerMetrics
from kingdom.adapters.sql.event_codec import EVENTS, EventCodec
from kingdom.services.causation import caused_by
from kingdom.services.ports.outbox import EventTransport, OutboxMessage
from kingdom.services.tracing import in_trace
from kingdom.workers.consuming import EventConsumer
from kingdom.workers.records import RecordError, decode_message

logger = logging.getLogger(__name__)


class InProcessTransport(EventTransport):
    def __init__(
        self,
        consumer: EventConsumer,
        codec: EventCodec = EVENTS,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._codec = codec
        self._metrics = metrics
        self._failed_before: set[str] = set()
        """Ids that failed here: when the relay offers one again, it is a redelivery."""

    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        """Consume ``messages`` in order; the ids of those that failed (to retry)."""
        failed: list[str] = []
        for message in messages:
            with in_trace(message.trace_parent):
                consumed = await self._consume(message)
            self._count(message.message_id, consumed)
            if not consumed:
                failed.append(message.message_id)
        return failed

    def _count(self, message_id: str, consumed: bool) -> None:
        if message_id in self._failed_before:
            if self._metrics is not None:
                self._metrics.redelivered()
            if consumed:
                self._failed_before.discard(message_id)
        elif not consumed:
            self._failed_before.add(message_id)
        if self._metrics is not None:
            (self._metrics.processed if consumed else self._metrics.failed)()

    async def _consume(self, message: OutboxMessage) -> bool:
        """Whether ``message`` was consumed (a failure is logged)."""
        try:
            delivery = decode_message(message, self._codec)
        except RecordError as error:
            logger.warning("message %s not consumed: %s", message.message_id, error)
            return False
        try:
            with caused_by(delivery.actor_id, delivery.request_id):
                await self._consumer.consume(delivery.event, trace_parent=delivery.trace_parent)
        except Exception as error:
            # Never the payload: events carry personal data.
            logger.warning(
                "message %s not consumed: %s %s: %s",
                message.message_id,
                message.event_type,
                type(error).__name__,
                error,
            )
            logger.debug("message %s not consumed", message.message_id, exc_info=error)
            return False
        return True
