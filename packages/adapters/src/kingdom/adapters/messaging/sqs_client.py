"""A boto3 SQS client: one per process, region and credentials found the boto3 way."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def sqs_client(endpoint_url: str | None = None) -> Any:
    """An SQS client; ``endpoint_url`` points it at another endpoint (a local one, in tests).

    boto3 clients are thread-safe, so one serves every ``asyncio.to_thread`` call.
    Retries are boto3's "standard" mode (throttling and 5xx, with backoff).
    """
    config = Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
    )
    return boto3.client("sqs", endpoint_url=endpoint_url, config=config)
