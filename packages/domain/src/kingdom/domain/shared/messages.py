"""Messages: commands (one handler, may fail) and events (facts, many handlers).

Messages are frozen, keyword-only dataclasses. Their identity and time come
from outside in a :class:`MessageMeta` — the domain never reads a clock or a
random source itself, which keeps it deterministic and testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MessageMeta:
    """Who a message is (a unique id) and when it happened (an aware datetime)."""

    message_id: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        if not self.message_id:
            raise ValueError("a message needs a non-empty id")
        if self.occurred_at.tzinfo is None:
            raise ValueError("a message's time must be timezone-aware")


@dataclass(frozen=True, kw_only=True)
class Message:
    meta: MessageMeta

    @property
    def message_id(self) -> str:
        return self.meta.message_id

    @property
    def occurred_at(self) -> datetime:
        return self.meta.occurred_at


@dataclass(frozen=True, kw_only=True)
class Command(Message):
    """A request to change state; handled by exactly one handler."""


@dataclass(frozen=True, kw_only=True)
class Event(Message):
    """A fact that happened; any number of handlers may react to it."""
