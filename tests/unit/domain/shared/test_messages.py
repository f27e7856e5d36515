from dataclasses import FrozenInstanceError
from datetime import UTC, datetime

import pytest

from kingdom.domain.shared import Event, MessageMeta

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_message_carries_the_identity_and_time_it_was_given() -> None:
    event = Event(meta=MessageMeta("m-1", NOW))
    assert (event.message_id, event.occurred_at) == ("m-1", NOW)
    with pytest.raises(FrozenInstanceError):
        event.meta = MessageMeta("m-2", NOW)  # type: ignore[misc]


def test_a_message_id_cannot_be_empty() -> None:
    with pytest.raises(ValueError, match="non-empty id"):
        MessageMeta("", NOW)


def test_a_message_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MessageMeta("m-1", datetime(2026, 1, 2))
