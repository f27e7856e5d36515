"""The Lambda function for SQS batches: ``kingdom.workers.lambda_handler.handle``.

Each record is decoded (:mod:`.records`) and handed to the consumer; the
answer names only the records that failed, in Lambda's partial batch
response (``{"batchItemFailures": [{"itemIdentifier": messageId}]}``), so SQS
deletes the rest and redelivers those alone (the event source mapping must
enable ``ReportBatchItemFailures``). A record fails alone: an undecodable
body, an unknown event type or a failing handler costs that record, never
its neighbours; after the queue's ``maxReceiveCount`` SQS moves it to the
dead-letter queue.

Records run one after another, in order, on the container's one event loop
(see :mod:`.composition`): a FIFO batch keeps its order, and the unit of
work's connections are reused from one record, and one invocation, to the
next. On a FIFO queue a failed record fails the rest of its message group
(later records of that group would otherwise overtake it).

Each record is consumed inside its own trace (the ``traceparent`` it
carries: :func:`kingdom.services.tracing.in_trace`), so what the handlers
commit and log carries it, and so does the warning about a failed record.
Spans, when an OTLP endpoint is configured, are exported before the
invocation returns: Lambda may freeze the container right after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, cast

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from kingdom.services.causation import caused_by
from kingdom.services.tracing import in_trace
from kingdom.workers import composition
from kingdom.workers.consuming import EventConsumer
from kingdom.workers.records import decode_record

logger = logging.getLogger(__name__)
_METRICS = Metrics(namespace="Kingdom", service="kingdom-worker")


def handle(event: Mapping[str, Any], context: Any) -> PartialItemFailureResponse:
    """Lambda's entry point: consume an SQS batch with the container's worker."""
    worker = composition.worker()
    try:
        response = handle_batch(event, worker.consumer, worker.loop)
    finally:
        worker.flush_spans()
    report_metrics(event, response)
    return response


def report_metrics(event: Mapping[str, Any], response: PartialItemFailureResponse) -> None:
    """The batch's outcomes as one CloudWatch embedded-metric-format line on stdout.

    CloudWatch turns the line into metrics (namespace ``Kingdom``); the poller
    prints the same lines. ``MessagesRedelivered``: records SQS delivered
    before (a retry after a failure or a visibility timeout).
    """
    records = list(event.get("Records") or [])
    failed = len(response["batchItemFailures"])
    redelivered = sum(
        1
        for record in records
        if int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1") or 1) > 1
    )
    _METRICS.add_metric("MessagesProcessed", MetricUnit.Count, len(records) - failed)
    _METRICS.add_metric("MessagesFailed", MetricUnit.Count, failed)
    _METRICS.add_metric("MessagesRedelivered", MetricUnit.Count, redelivered)
    _METRICS.flush_metrics()


def handle_batch(
    event: Mapping[str, Any], consumer: EventConsumer, loop: asyncio.AbstractEventLoop
) -> PartialItemFailureResponse:
    """Consume every record of an SQS ``event`` on ``loop``; name the ones that failed.

    ``loop`` must not be running (the handler is synchronous, as Lambda calls it).
    """
    records: list[dict[str, Any]] = list(event.get("Records") or [])

    def consume(record: SQSRecord) -> None:
        loop.run_until_complete(_consume(record.raw_event, consumer))

    processor = _processor(records)
    with processor(records=records, handler=consume):
        processor.process()
    for failed, (_, error, _) in zip(processor.fail_messages, processor.exceptions, strict=True):
        record = cast(SQSRecord, failed)
        message_id = record.message_id
        with in_trace(_trace_parent_of(record.raw_event)):
            # One line per failed record, never its body (events carry personal data).
            logger.warning("record %s failed: %s", message_id, error)
            logger.debug("record %s failed", message_id, exc_info=error)
    return processor.response()


class HandlerFailed(Exception):
    """A record's event decoded, but consuming it raised (the cause is chained)."""


async def _consume(record: Mapping[str, Any], consumer: EventConsumer) -> None:
    delivery = decode_record(record)
    try:
        with in_trace(delivery.trace_parent), caused_by(delivery.actor_id, delivery.request_id):
            await consumer.consume(delivery.event, trace_parent=delivery.trace_parent)
    except Exception as error:
        name = type(delivery.event).__name__
        raise HandlerFailed(f"{name}: {type(error).__name__}: {error}") from error


def _trace_parent_of(record: Mapping[str, Any]) -> str | None:
    """The ``traceparent`` message attribute of a record (the relay sets it), if any."""
    attributes = record.get("messageAttributes") or {}
    value = (attributes.get("traceparent") or {}).get("stringValue")
    return value if isinstance(value, str) else None


def _processor(records: Sequence[Mapping[str, Any]]) -> BatchProcessor:
    fifo = any(str(record.get("eventSourceARN", "")).endswith(".fifo") for record in records)
    processor = (
        SqsFifoPartialProcessor(skip_group_on_error=True) if fifo else BatchProcessor(EventType.SQS)
    )
    # A batch whose every record failed is still an answer naming them all
    # (by default powertools raises, and Lambda would retry the whole batch).
    processor.raise_on_entire_batch_failure = False
    return processor
