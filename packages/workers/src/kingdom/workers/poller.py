"""The local poller: ``python -m kingdom.workers.poller`` (``./pants run packages/workers:poller``).

Does what AWS does for the Lambda function: long-polls
``$KINGDOM_SQS_QUEUE_URL``, hands each batch to the very same
:func:`~kingdom.workers.lambda_handler.handle` as an SQS event
(``{"Records": [...]}``), deletes the records it did not name as failed and
leaves the failed ones to come back after the queue's visibility timeout —
after ``maxReceiveCount`` receives, SQS moves them to the dead-letter queue
(``./pants run packages/workers:redrive`` brings them back).

SIGINT or SIGTERM (Ctrl-C) stops it: the current long poll ends (at most
``KINGDOM_POLLER_WAIT_SECONDS``), what it brought is handled and deleted,
and the poller exits 0; a second Ctrl-C quits at once. Waiting for the poll,
instead of abandoning it, keeps a message from being received (and counted
towards the dead-letter queue) without being handled.

Exit status: 0 stopped, 1 the database or the queue cannot be used, 2 bad configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from botocore.exceptions import BotoCoreError, ClientError

from kingdom.adapters.messaging.sqs_client import sqs_client
from kingdom.adapters.messaging.sqs_queue import SqsQueue
from kingdom.workers import composition
from kingdom.workers.console import log_to_stderr
from kingdom.workers.lambda_handler import handle
from kingdom.workers.settings import SettingsError, WorkerSettings

FAILED = 1
BAD_CONFIGURATION = 2
NO_QUEUE = (
    "KINGDOM_SQS_QUEUE_URL is not set: the poller needs a queue to poll"
    " (the embedded server hands events to the workers in-process)"
)

BatchHandler = Callable[[Mapping[str, Any], Any], PartialItemFailureResponse]
"""``handle(event, context)``: a Lambda function for SQS events."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Polled:
    """What one poll did."""

    received: int
    failed: int
    undeleted: int = 0
    """Handled records whose delete SQS refused (they come back; the inbox skips them)."""


async def poll_once(queue: SqsQueue, handler: BatchHandler, *, wait_seconds: int) -> Polled:
    """Receive one batch (waiting up to ``wait_seconds``), handle it, delete what succeeded."""
    records = await queue.receive(wait_seconds=wait_seconds)
    if not records:
        return Polled(0, 0)
    # The handler is synchronous and runs its own event loop, as on Lambda:
    # give it a thread, so that this loop is not the one it would have to use.
    response = await asyncio.to_thread(handler, {"Records": records}, None)
    failed = {str(failure["itemIdentifier"]) for failure in response["batchItemFailures"]}
    done = [record["receiptHandle"] for record in records if record["messageId"] not in failed]
    refused = await queue.delete(done)
    return Polled(len(records), len(failed), len(refused))


async def poll(
    queue: SqsQueue, handler: BatchHandler, stop: asyncio.Event, *, wait_seconds: int
) -> None:
    """Poll until ``stop`` is set; a batch in hand is finished first."""
    while not stop.is_set():
        try:
            polled = await poll_once(queue, handler, wait_seconds=wait_seconds)
        except Exception as error:  # SQS unreachable, throttled beyond boto3's retries...
            logger.warning("polling %s failed: %s: %s", queue.url, type(error).__name__, error)
            await _sleep_unless(stop, seconds=wait_seconds)
            continue
        if polled.received:
            logger.info(
                "handled %d record(s), %d failed%s",
                polled.received,
                polled.failed,
                f", {polled.undeleted} not deleted" if polled.undeleted else "",
            )


async def _sleep_unless(stop: asyncio.Event, *, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def run(environ: Mapping[str, str]) -> int:
    try:
        settings = WorkerSettings.from_environ(environ)
    except SettingsError as error:
        print(f"kingdom poller: invalid setting {error}", file=sys.stderr)
        return BAD_CONFIGURATION
    if not settings.sqs_queue_url:
        print(f"kingdom poller: {NO_QUEUE}", file=sys.stderr)
        return BAD_CONFIGURATION
    log_to_stderr()
    # Built now, in this thread and before our own loop runs: a bad database
    # fails at start-up, and the embedded database is migrated before the first batch.
    try:
        composition.worker(settings)
    except Exception as error:
        print(f"kingdom poller: cannot prepare the database: {error}", file=sys.stderr)
        return FAILED
    try:
        return asyncio.run(_poll(settings, settings.sqs_queue_url))
    finally:
        composition.shutdown()


async def _poll(settings: WorkerSettings, queue_url: str) -> int:
    queue = SqsQueue(sqs_client(settings.aws_endpoint_url), queue_url)
    try:
        await queue.arn()  # a queue that does not exist, or no credentials: say so now
    except (BotoCoreError, ClientError) as error:
        print(f"kingdom poller: cannot use {queue_url}: {error}", file=sys.stderr)
        return FAILED
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        print("kingdom poller: stopping after the current poll", file=sys.stderr, flush=True)
        stop.set()
        # A second Ctrl-C interrupts at once (the default handlers again).
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    print(f"kingdom poller: polling {queue_url} (Ctrl-C to stop)", flush=True)
    await poll(queue, handle, stop, wait_seconds=settings.poller_wait_seconds)
    print("kingdom poller: stopped", flush=True)
    return 0


def main() -> NoReturn:
    sys.exit(run(os.environ))


if __name__ == "__main__":
    main()
