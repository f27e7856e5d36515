"""How the message bus retries a command that lost an optimistic-concurrency race.

Two requests that read the same version and both write collide; the loser
gets :class:`~kingdom.services.ports.ConcurrencyConflict`. Running it again
on fresh data usually succeeds. The delay grows exponentially so a hot row is
not hammered, and it is jittered ("full jitter") so the losers of one race do
not collide again in lockstep.

The budget is sized to absorb contention rather than report it: 10 tries
spread over about a second (the caps add up to ~1.2 s, the expected wait to
half that). Hot accounts rarely need it — the SQL ledger queues on row locks
instead of conflicting — but optimistic writes elsewhere (a user, a role, a
session) and SQLite's busy writer do, and a client that did not send an
``expectedVersion`` should not be told CONFLICT for a race it cannot see.
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; between tries, a random delay below the current cap.

    ``sleep`` and ``random`` are injectable so tests run instantly and
    deterministically.
    """

    attempts: int = 10
    base_delay: float = 0.005
    max_delay: float = 0.25
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    random: Callable[[], float] = field(default=_random.random, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("retry delays must satisfy 0 <= base_delay <= max_delay")

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` (>= 1) failures: uniform in [0, cap)."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** (failed_attempts - 1))
        return cap * self.random()

    async def backoff(self, failed_attempts: int) -> None:
        await self.sleep(self.delay(failed_attempts))


NO_RETRY = RetryPolicy(attempts=1)
"""Fail on the first conflict (useful in tests that want to see the conflict)."""
