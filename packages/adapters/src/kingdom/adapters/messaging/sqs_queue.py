"""The receiving side of an SQS queue: long-poll, delete, and redrive dead letters.

:meth:`SqsQueue.receive` returns records shaped exactly like the ``Records``
of the event Lambda hands an SQS-triggered function (camelCase keys,
``messageAttributes`` with ``stringValue``/``dataType``, ``eventSource``,
``eventSourceARN``), so a local poller can drive the very handler Lambda
runs. boto3 blocks, so every call goes through ``asyncio.to_thread`` (one
boto3 client is thread-safe and serves them all).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

SqsRecord = dict[str, Any]
"""One message as Lambda's SQS event carries it."""

MAX_BATCH = 10
"""SQS receives, sends and deletes at most ten messages per call."""


class RedriveError(RuntimeError):
    """Dead letters cannot be moved (no dead-letter queue, or SQS refused)."""


class SqsQueue:
    """One queue, seen by its consumer."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        self._arn: str | None = None

    async def receive(
        self, max_messages: int = MAX_BATCH, wait_seconds: int = 20
    ) -> list[SqsRecord]:
        """Up to ``max_messages`` (1-10) messages, waiting up to ``wait_seconds`` for the first."""
        arn = await self.arn()
        answer = await asyncio.to_thread(
            self.client.receive_message,
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(max_messages, MAX_BATCH)),
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        region = str(self.client.meta.region_name)
        return [lambda_record(message, arn, region) for message in answer.get("Messages", [])]

    async def delete(self, receipt_handles: Sequence[str]) -> list[str]:
        """Delete the messages received with these handles; the handles SQS refused.

        A refused delete is not an error worth stopping for: the message comes
        back after its visibility timeout and the consumer's inbox skips it.
        """
        refused: list[str] = []
        for chunk in _chunks(receipt_handles):
            answer = await asyncio.to_thread(
                self.client.delete_message_batch,
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)],
            )
            refused += [chunk[int(failure["Id"])] for failure in answer.get("Failed", [])]
        return refused

    async def arn(self) -> str:
        if self._arn is None:
            self._arn = (await self._attributes("QueueArn"))["QueueArn"]
        return self._arn

    async def dead_letter_url(self) -> str | None:
        """The URL of the queue's dead-letter queue (its RedrivePolicy), if it has one."""
        policy = (await self._attributes("RedrivePolicy")).get("RedrivePolicy")
        if not policy:
            return None
        target_arn = str(json.loads(policy)["deadLetterTargetArn"])
        # arn:aws:sqs:<region>:<account>:<name>
        *_, account, name = target_arn.split(":")
        answer = await asyncio.to_thread(
            self.client.get_queue_url, QueueName=name, QueueOwnerAWSAccountId=account
        )
        return str(answer["QueueUrl"])

    async def _attributes(self, *names: str) -> dict[str, str]:
        answer = await asyncio.to_thread(
            self.client.get_queue_attributes, QueueUrl=self.url, AttributeNames=list(names)
        )
        return dict(answer.get("Attributes", {}))


async def redrive(
    client: Any, dead_letter_url: str, target_url: str, max_messages: int | None = None
) -> int:
    """Move up to ``max_messages`` (default: all) from ``dead_letter_url`` to ``target_url``.

    Each message is sent again with its body and message attributes (and,
    on a FIFO queue, its message group), then deleted from the dead-letter
    queue; a message whose send failed stays there. Returns how many moved.
    The copies are new messages: their receive count starts again at zero.
    """
    if dead_letter_url == target_url:
        raise RedriveError("the dead-letter queue and the target are the same queue")
    moved = 0
    fifo = target_url.endswith(".fifo")
    while max_messages is None or moved < max_messages:
        wanted = MAX_BATCH if max_messages is None else min(MAX_BATCH, max_messages - moved)
        answer = await asyncio.to_thread(
            client.receive_message,
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=wanted,
            # Long polling asks every SQS server, so an empty answer means empty.
            WaitTimeSeconds=1,
            # Long enough to send and delete; a failed send reappears afterwards.
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        sent = await asyncio.to_thread(
            client.send_message_batch,
            QueueUrl=target_url,
            Entries=[_resend_entry(str(i), message, fifo) for i, message in enumerate(messages)],
        )
        accepted = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
        if not accepted:
            failure = sent.get("Failed", [{}])[0]
            raise RedriveError(f"SQS refused to send: {failure.get('Message', failure)}")
        deleted = await SqsQueue(client, dead_letter_url).delete(
            [message["ReceiptHandle"] for message in accepted]
        )
        moved += len(accepted) - len(deleted)
    return moved


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> SqsRecord:
    """A ``ReceiveMessage`` message as Lambda would put it in an SQS event."""
    record: SqsRecord = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        # Lambda's event is JSON: binary values travel base64-encoded.
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def _resend_entry(entry_id: str, message: Mapping[str, Any], fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message["Body"]}
    attributes = {
        name: {
            key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    if attributes:
        entry["MessageAttributes"] = attributes
    trace = message.get("Attributes", {}).get("AWSTraceHeader")
    if trace:
        entry["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": trace}
        }
    if fifo:
        entry["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "default")
        # Not the original id: within SQS's five-minute window it would make
        # the copy a duplicate, silently dropped, while we delete the original.
        # Consumers deduplicate by the event's own message id anyway.
        entry["MessageDeduplicationId"] = uuid.uuid4().hex
    return entry


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), MAX_BATCH):
        yield items[start : start + MAX_BATCH]
