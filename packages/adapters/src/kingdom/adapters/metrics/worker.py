"""``kingdom_worker_messages_total{outcome}``: what became of the messages the workers consumed."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter

PROCESSED: Final = "processed"
FAILED: Final = "failed"
REDELIVERED: Final = "redelivered"


class WorkerMetrics:
    """Counts consumed messages by outcome: ``processed``, ``failed`` or ``redelivered``.

    The three series exist from the start (at 0), so a rate or an alert on
    ``failed`` works before the first failure. Each call is one increment of
    an already labelled child: cheap enough for every message.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        messages = Counter(
            "kingdom_worker_messages_total",
            "Messages consumed by the workers, by outcome "
            "(redelivered: a duplicate of one already handled, or one retried).",
            ["outcome"],
            registry=registry,
        )
        self._processed = messages.labels(PROCESSED)
        self._failed = messages.labels(FAILED)
        self._redelivered = messages.labels(REDELIVERED)

    def processed(self, count: int = 1) -> None:
        """``count`` messages were handled (every handler succeeded)."""
        self._processed.inc(count)

    def failed(self, count: int = 1) -> None:
        """``count`` messages failed and go back to the queue (or to its dead-letter queue)."""
        self._failed.inc(count)

    def redelivered(self, count: int = 1) -> None:
        """``count`` messages arrived again: a retry, or a duplicate the inbox recognised."""
        self._redelivered.inc(count)
