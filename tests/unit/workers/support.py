"""Doubles and data for the workers' tests: a fake consumer, events, and SQS records."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from kingdom.adapters.messaging.envelope import encode_envelope
from kingdom.adapters.sql.outbox import EventSource, outbox_row
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import events as identity
from kingdom.domain.ledger import events as ledger
from kingdom.domain.shared import Event, MessageMeta
from kingdom.services.ports.outbox import OutboxMessage

WHEN = datetime(2024, 5, 17, 12, 30, 15, 123456, tzinfo=UTC)
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:kingdom"
TRACE_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakeConsumer:
    """Records what it consumed; raises for the message ids it was told to fail on."""

    def __init__(self, failing: Collection[str] = ()) -> None:
        self.failing = set(failing)
        self.consumed: list[Event] = []
        self.trace_parents: list[str | None] = []

    async def consume(self, event: Event, *, trace_parent: str | None = None) -> None:
        if event.message_id in self.failing:
            raise RuntimeError("the handler broke")
        self.consumed.append(event)
        self.trace_parents.append(trace_parent)


def meta(message_id: str | None = None) -> MessageMeta:
    return MessageMeta(message_id or f"msg-{uuid.uuid4().hex[:12]}", WHEN)


def examples() -> list[Event]:
    """One event of every type the codec stores, each with its own message id."""
    policies = (
        Policy.of("accounts", Permission.READ | Permission.UPDATE, "acc-2", "acc-1"),
        Policy.of("users", Permission.ALL),
    )
    return [
        identity.UserRegistered(
            meta=meta(),
            user_id="u-1",
            email="ann@example.org",
            display_name="Ann",
            policies=policies,
        ),
        identity.PasswordChanged(meta=meta(), user_id="u-1", token_version=3),
        identity.PasswordResetRequested(
            meta=meta(),
            user_id="u-1",
            token_id="t-1",
            expires_at=datetime(2024, 5, 17, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        ),
        identity.RoleCreated(meta=meta(), role_code="auditor", name="Auditor", policies=policies),
        identity.PoliciesAttached(meta=meta(), subject="user", subject_id="u-1", policies=policies),
        identity.PoliciesDetached(
            meta=meta(), subject="role", subject_id="auditor", policies=policies
        ),
        identity.RoleAssigned(meta=meta(), user_id="u-1", role_code="auditor"),
        identity.RoleRevoked(meta=meta(), user_id="u-1", role_code="auditor"),
        identity.UserDisabled(meta=meta(), user_id="u-1", token_version=4),
        identity.RefreshTokenReuseDetected(meta=meta(), user_id="u-1", session_id="s-1"),
        identity.RegistrationAttemptedOnTakenAddress(meta=meta(), user_id="u-1"),
        ledger.AccountOpened(meta=meta(), account_id="a-1", owner_id="u-1", currency="EUR"),
        ledger.FundsDeposited(meta=meta(), account_id="a-1", amount=2**63 - 1, balance=2**63 - 1),
        ledger.FundsWithdrawn(meta=meta(), account_id="a-1", amount=5, balance=0),
        ledger.TransferCompleted(
            meta=meta(),
            transfer_id="t-1",
            source_id="a-1",
            target_id="a-2",
            amount=7,
            currency="EUR",
        ),
        ledger.AccountClosed(meta=meta(), account_id="a-1"),
    ]


def deposit(amount: int = 100, message_id: str | None = None) -> Event:
    return ledger.FundsDeposited(
        meta=meta(message_id), account_id="a-1", amount=amount, balance=amount
    )


def outbox_message(event: Event, trace_parent: str | None = None) -> OutboxMessage:
    """``event`` as the relay reads it from the outbox."""
    row = outbox_row(event, EventSource("account", "a-1", 1))
    return OutboxMessage(**row, position=1, trace_parent=trace_parent)


def envelope(event: Event, trace_parent: str | None = None) -> str:
    """``event`` as the body of the SQS message the relay sends."""
    return encode_envelope(outbox_message(event, trace_parent))


def sqs_record(
    body: str,
    message_id: str | None = None,
    *,
    queue_arn: str = QUEUE_ARN,
    group: str | None = None,
) -> dict[str, Any]:
    """One record of the event Lambda gives an SQS-triggered function."""
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1715949015123",
        "SenderId": "AIDAEXAMPLE",
        "ApproximateFirstReceiveTimestamp": "1715949015130",
    }
    if group is not None:
        attributes["MessageGroupId"] = group
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"handle-{uuid.uuid4().hex}",
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }
