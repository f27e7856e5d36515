"""The embedded publisher logs every event where the default log level shows it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from kingdom.adapters.messaging.in_process import InProcessPublisher
from kingdom.domain.identity import UserRegistered
from kingdom.domain.shared import MessageMeta


async def test_each_event_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    event = UserRegistered(
        meta=MessageMeta(message_id="m-1", occurred_at=datetime(2024, 1, 1, tzinfo=UTC)),
        user_id="u-1",
        email="ann@example.org",
        display_name="Ann",
    )
    with caplog.at_level(logging.INFO, logger="kingdom.events"):
        await InProcessPublisher().publish(event)

    [record] = caplog.records
    assert (record.name, record.levelno) == ("kingdom.events", logging.INFO)
    assert record.getMessage() == "event UserRegistered m-1"
