"""Outages: the database (or another backing service) could not do its part.

Unlike domain errors these say nothing about the request; they say when to
ask again. Adapters raise them for failures that mean "could not reach" or
"lost the connection", entrypoints answer them as "try again later" (HTTP
503), and everything else lets them through unchanged.
"""

from __future__ import annotations

DEFAULT_RETRY_AFTER = 1
"""Seconds to wait before asking again: long enough for the pool to reconnect."""


class Outage(Exception):
    """A backing service failed; ``retry_after_seconds`` says when to try again."""

    def __init__(self, message: str, retry_after_seconds: int = DEFAULT_RETRY_AFTER) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_seconds = retry_after_seconds


class Unavailable(Outage):
    """Could not reach the database, or lost the connection before committing.

    Nothing was written: running the request again later is safe.
    """


class OutcomeUnknown(Outage):
    """The connection was lost while committing: the write may or may not have happened.

    Retrying is safe only when the request can be recognised as a repeat
    (an idempotency key); otherwise look before writing again.
    """
