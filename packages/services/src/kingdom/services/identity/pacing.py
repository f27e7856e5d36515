"""Making a cheap branch take as long as an expensive one, so timing tells nothing.

A password-reset request for a registered address writes a token, bumps the
user, adds an outbox row and queues a mail; for an unknown address there is
nothing to write. Measured end to end that is a few milliseconds on SQLite
and around ten on PostgreSQL: over a few hundred requests, enough to tell
registered addresses apart. Doing fake writes for unknown addresses would
cost real database work per bot request; instead the cheap branch *waits*
as long as a recent run of the expensive branch took (a random one of the
last few, so the spread matches too, not just the median).

Registration is paced the same way: a new address writes a user, an
outbox row and its welcome mail; a registered one writes at most an outbox
row and a mail (the notice to its owner), and waits the rest.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Final

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]

INITIAL_ESTIMATE: Final = timedelta(milliseconds=10)
"""What the cheap branch waits before the expensive one ever ran in this process."""

_OVERSHOOT_WEIGHT: Final = 0.1
"""How fast the estimate of sleep overshoot follows new measurements (an EWMA)."""


class LatencyMimic:
    """Remembers how long the expensive branch took; pads the cheap branch to match.

    Per process, which is right: each process answers from its own timings.
    Durations come from the handler's :class:`~kingdom.services.ports.Clock`,
    so under a test's fake clock they are all zero: once the expensive branch
    ran, the cheap one no longer waits.

    A sleep overshoots (the event loop wakes on a millisecond tick, later
    under load): left alone, the cheap branch would end up *slower* by
    about a millisecond. Each pad measures its overshoot (``monotonic``) and
    the next one sleeps that much less, on average.
    """

    def __init__(
        self,
        *,
        keep: int = 64,
        cap: timedelta = timedelta(seconds=2),
        initial: timedelta = INITIAL_ESTIMATE,
        sleep: Sleep = asyncio.sleep,
        monotonic: Monotonic = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._samples: deque[timedelta] = deque(maxlen=keep)
        self._cap = cap
        self._initial = initial
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._overshoot = 0.0

    def record(self, took: timedelta) -> None:
        """The expensive branch just took ``took`` (clamped to ``[0, cap]``)."""
        self._samples.append(min(max(took, timedelta(0)), self._cap))

    def target(self) -> timedelta:
        """How long the cheap branch should take this time."""
        if not self._samples:
            return self._initial
        return self._rng.choice(self._samples)

    async def pad(self, took: timedelta) -> None:
        """The cheap branch took ``took`` so far: wait out the rest of :meth:`target`."""
        remaining = (self.target() - took).total_seconds() - self._overshoot
        if remaining <= 0:
            return
        started = self._monotonic()
        await self._sleep(remaining)
        overshoot = max(0.0, self._monotonic() - started - remaining)
        self._overshoot += _OVERSHOOT_WEIGHT * (overshoot - self._overshoot)


RESET_PACING: Final = LatencyMimic()
"""The process's pacing of password-reset requests that mail nothing (the handler's default)."""

REGISTRATION_PACING: Final = LatencyMimic()
"""The process's pacing of registrations of taken addresses (the handler's default)."""
