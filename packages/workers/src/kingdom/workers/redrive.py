"""``./pants run packages/workers:redrive -- [--max N] [--dead-letter-url URL]``.

Moves messages from the dead-letter queue back to ``$KINGDOM_SQS_QUEUE_URL``,
once whatever made them fail is fixed. The dead-letter queue is the one the
queue's RedrivePolicy names, unless ``--dead-letter-url`` says otherwise.
Moved messages are new messages to SQS (their receive count starts again);
consumers deduplicate by the event's id, so one that was handled after all
is not handled twice.

Exit status: 0 done (even if nothing was waiting), 1 SQS failed, 2 bad
usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from kingdom.adapters.messaging.sqs_client import sqs_client
from kingdom.adapters.messaging.sqs_queue import RedriveError, SqsQueue, redrive
from kingdom.workers.settings import SettingsError, WorkerSettings

FAILED = 1
BAD_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(BAD_USAGE, f"kingdom redrive: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kingdom redrive",
        description="Move dead letters back to $KINGDOM_SQS_QUEUE_URL.",
    )
    parser.add_argument(
        "--max", type=_positive, default=None, metavar="N", help="move at most N messages"
    )
    parser.add_argument(
        "--dead-letter-url",
        metavar="URL",
        help="the dead-letter queue (default: the one in the queue's RedrivePolicy)",
    )
    return parser


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return number


def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    arguments = _parser().parse_args(argv)
    try:
        settings = WorkerSettings.from_environ(environ)
    except SettingsError as error:
        return _fail(BAD_USAGE, f"invalid setting {error}")
    if not settings.sqs_queue_url:
        return _fail(BAD_USAGE, "KINGDOM_SQS_QUEUE_URL is not set: which queue gets the messages?")
    try:
        return asyncio.run(
            _redrive(settings, settings.sqs_queue_url, arguments.dead_letter_url, arguments.max)
        )
    except (BotoCoreError, ClientError, RedriveError) as error:
        return _fail(FAILED, str(error))


async def _redrive(
    settings: WorkerSettings, queue_url: str, dead_letter_url: str | None, limit: int | None
) -> int:
    client = sqs_client(settings.aws_endpoint_url)
    if dead_letter_url is None:
        dead_letter_url = await SqsQueue(client, queue_url).dead_letter_url()
        if dead_letter_url is None:
            return _fail(
                BAD_USAGE, f"{queue_url} has no RedrivePolicy: name one with --dead-letter-url"
            )
    moved = await redrive(client, dead_letter_url, queue_url, limit)
    print(f"kingdom redrive: moved {moved} message(s) from {dead_letter_url} to {queue_url}")
    return 0


def _fail(status: int, message: str) -> int:
    print(f"kingdom redrive: {message}", file=sys.stderr)
    return status


def main() -> NoReturn:
    sys.exit(run(sys.argv[1:], os.environ))


if __name__ == "__main__":
    main()
