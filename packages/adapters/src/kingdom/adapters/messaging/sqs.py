"""The relay's transport to SQS: SendMessageBatch, ten messages a call.

The body is the envelope (:mod:`.envelope`); the message attributes repeat
its routing fields (not the payload) for filters and for people reading a
queue. On a FIFO queue the group is the aggregate (per-aggregate order; the
event type when there is none) and the deduplication id is the message id,
so a relay that resends within SQS's five-minute window sends nothing twice.

boto3 blocks, so each call runs in a thread. A standard queue gets a batch's
chunks concurrently; a FIFO queue one after another, since two concurrent
calls could reorder one group. The threads are the transport's own, as many
as boto3's connection pool holds (10): the default executor has only
``cpu + 4``, so on a small machine a batch of 100 would go in two waves. Entry ids are the position in the chunk
(message ids need not be valid entry ids), mapped back on the way out.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kingdom.adapters.messaging.envelope import encode_envelope
from kingdom.services.ports.outbox import EventTransport, OutboxMessage

MAX_BATCH = 10
"""SendMessageBatch takes at most ten entries."""

CONCURRENT_CALLS = 10
"""Calls in flight at once: botocore's default ``max_pool_connections``."""


class SqsTransport(EventTransport):
    def __init__(
        self, client: Any, queue_url: str, *, fifo: bool, concurrency: int = CONCURRENT_CALLS
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._fifo = fifo
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="kingdom-sqs")

    @property
    def queue_url(self) -> str:
        return self._queue_url

    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        chunks = [messages[i : i + MAX_BATCH] for i in range(0, len(messages), MAX_BATCH)]
        if self._fifo:
            refused: list[str] = []
            for index, chunk in enumerate(chunks):
                try:
                    refused += await self._send_chunk(chunk)
                except Exception:
                    if index == 0:
                        raise  # nothing went: the whole call failed
                    # Earlier chunks went; what is left is simply not sent yet.
                    return refused + [m.message_id for c in chunks[index:] for m in c]
            return refused
        outcomes = await asyncio.gather(
            *(self._send_chunk(chunk) for chunk in chunks), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures and (len(failures) == len(outcomes) or not isinstance(failures[0], Exception)):
            raise failures[0]
        refused = []
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                refused += [m.message_id for m in chunk]
            else:
                refused += outcome
        return refused

    async def _send_chunk(self, chunk: Sequence[OutboxMessage]) -> list[str]:
        entries = [self._entry(str(index), message) for index, message in enumerate(chunk)]
        call = functools.partial(
            self._client.send_message_batch, QueueUrl=self._queue_url, Entries=entries
        )
        answer = await asyncio.get_running_loop().run_in_executor(self._threads, call)
        return [chunk[int(failed["Id"])].message_id for failed in answer.get("Failed", [])]

    def _entry(self, entry_id: str, message: OutboxMessage) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": entry_id,
            "MessageBody": encode_envelope(message),
            "MessageAttributes": message_attributes(message),
        }
        if self._fifo:
            entry["MessageGroupId"] = message.aggregate_id or message.event_type
            entry["MessageDeduplicationId"] = message.message_id
        return entry


def message_attributes(message: OutboxMessage) -> dict[str, dict[str, str]]:
    """The envelope's routing fields as SQS message attributes (absent ones left out)."""
    attributes = {
        "message_id": _text(message.message_id),
        "event_type": _text(message.event_type),
        "schema_version": _number(message.schema_version),
    }
    if message.aggregate_type:
        attributes["aggregate_type"] = _text(message.aggregate_type)
    if message.aggregate_id:
        attributes["aggregate_id"] = _text(message.aggregate_id)
    if message.aggregate_version is not None:
        attributes["aggregate_version"] = _number(message.aggregate_version)
    if message.trace_parent:
        attributes["traceparent"] = _text(message.trace_parent)
    if message.request_id:
        # Beside the trace, for a person matching a queued message to its
        # request's access line (8 attributes at most: SQS allows 10).
        attributes["request_id"] = _text(message.request_id)
    return attributes


def _text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def _number(value: int) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": str(value)}
