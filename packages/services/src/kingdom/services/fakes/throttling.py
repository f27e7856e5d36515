"""An in-memory :class:`~kingdom.services.ports.LoginThrottle`: the real policy, a dict for storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kingdom.services.ports import LoginThrottle, ThrottleCounter, ThrottlePolicy


class FakeLoginThrottle(LoginThrottle):
    """Every decision is the port's own; only the storage is a dict (``counters``).

    Like the SQL adapter, it keeps counting whatever the caller's unit of
    work does, so tests see failures of rolled-back logins stay counted.
    """

    def __init__(self, policy: ThrottlePolicy | None = None) -> None:
        super().__init__(policy or ThrottlePolicy())
        self.counters: dict[str, ThrottleCounter] = {}

    async def load(self, keys: Sequence[str]) -> Sequence[ThrottleCounter]:
        return [self.counters[key] for key in keys if key in self.counters]

    async def count_failures(self, keys: Sequence[str], now: datetime) -> None:
        for key in keys:
            self.counters[key] = self.policy.after_failure(key, self.counters.get(key), now)

    async def forget(self, key: str) -> None:
        self.counters.pop(key, None)

    def failures(self, key: str) -> int:
        """The stored count of ``key`` (0 if none), for assertions."""
        counter = self.counters.get(key)
        return 0 if counter is None else counter.failures
