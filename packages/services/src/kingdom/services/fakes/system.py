"""A clock that only moves when told to, and ids that are easy to read in assertions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kingdom.services.ports import Clock, IdGenerator

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock(Clock):
    def __init__(self, now: datetime = EPOCH) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current = self.current + delta


class SequentialIds(IdGenerator):
    """``id-0001``, ``id-0002``... zero-padded so string order is creation order."""

    def __init__(self, prefix: str = "id") -> None:
        self.prefix = prefix
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count:04d}"
