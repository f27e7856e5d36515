"""The shared kernel: what every bounded context builds on."""

from kingdom.domain.shared.aggregate import Aggregate
from kingdom.domain.shared.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from kingdom.domain.shared.messages import Command, Event, Message, MessageMeta

__all__ = [
    "Aggregate",
    "Command",
    "Conflict",
    "DomainError",
    "ErrorCode",
    "Event",
    "Forbidden",
    "Invalid",
    "Message",
    "MessageMeta",
    "NotFound",
    "RateLimited",
    "Unauthenticated",
]
