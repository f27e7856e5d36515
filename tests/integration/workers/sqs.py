"""A real SQS endpoint for tests: moto's server over HTTP on 127.0.0.1 (not in-process patching).

``sqs_endpoint`` starts one ``ThreadedMotoServer`` per test session on a free
port; ``queues`` makes a fresh queue (and its dead-letter queue) per test, so
tests never see each other's messages.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

# Credentials and region for boto3: moto accepts any.
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """The URL of a moto server on 127.0.0.1; AWS_* variables set for boto3 in this process."""
    saved = {name: os.environ.get(name) for name in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def aws_environment(endpoint: str) -> dict[str, str]:
    """What a child process (relay, poller, server) needs to reach the moto server."""
    return {**_AWS_ENV, "KINGDOM_AWS_ENDPOINT_URL": endpoint}


@dataclass(frozen=True)
class Queues:
    url: str
    dead_letter_url: str
    client: Any
    """A boto3 SQS client on the endpoint."""

    def receive_all(self, url: str | None = None, wait: float = 1.0) -> list[dict[str, Any]]:
        """Every message now visible on ``url`` (default: the main queue), deleting none."""
        found: list[dict[str, Any]] = []
        while True:
            answer = self.client.receive_message(
                QueueUrl=url or self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=int(wait) if not found else 0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            batch = answer.get("Messages", [])
            if not batch:
                return found
            found += batch


def make_queues(
    endpoint: str, *, fifo: bool = False, max_receive_count: int = 3, visibility: int = 30
) -> Queues:
    """A fresh queue with a dead-letter queue behind it (redrive after ``max_receive_count``)."""
    client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    name = f"kingdom-{uuid.uuid4().hex[:10]}"
    suffix = ".fifo" if fifo else ""
    fifo_attributes = {"FifoQueue": "true"} if fifo else {}
    dead = client.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=fifo_attributes)
    dead_arn = client.get_queue_attributes(QueueUrl=dead["QueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    main = client.create_queue(
        QueueName=f"{name}{suffix}",
        Attributes={
            **fifo_attributes,
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )
    return Queues(main["QueueUrl"], dead["QueueUrl"], client)
