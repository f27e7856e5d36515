"""A query's deadline on the event loop's clock, read only when the query first waits."""

from __future__ import annotations

import asyncio


class Deadline:
    """``seconds`` for a query, counted from the first time anything awaits under it.

    What runs synchronously cannot be interrupted anyway, so the loop's clock
    is read (and a timer set) only when the query has something to await: a
    ``{ __typename }`` never reads it. Reading it is not free on CPython 3.11:
    ``asyncio.get_running_loop()`` makes a ``getpid`` system call. A plan that
    steps aside for graphql-core hands it the same deadline, so the two share
    one budget.
    """

    __slots__ = ("seconds", "_at")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at: float | None = None

    def at(self) -> float:
        """The deadline on the running loop's clock, fixed by the first call."""
        if self._at is None:
            self._at = asyncio.get_running_loop().time() + self.seconds
        return self._at


def timeout(deadline: Deadline | None) -> asyncio.Timeout:
    """What ``async with`` stops at ``deadline`` (``TimeoutError``); ``None``: no limit."""
    return asyncio.timeout_at(None if deadline is None else deadline.at())
