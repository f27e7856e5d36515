"""The aggregate base: identity, optimistic-concurrency version, pending events."""

from __future__ import annotations

from kingdom.domain.shared.messages import Event


class Aggregate:
    """A consistency boundary, changed only through its own methods.

    ``version`` counts committed changes; the unit of work compares it on
    update (optimistic concurrency) and bumps it when it writes. Methods
    record events with :meth:`_record`; the unit of work drains them with
    :meth:`pull_events` when it commits.
    """

    id: str
    version: int

    def __init__(self, id: str, version: int = 0) -> None:
        self.id = id
        self.version = version
        self._pending: list[Event] = []

    # An ORM loading a row may build the object without calling __init__, so
    # `_pending` can be missing on a loaded aggregate: every access copes.
    def _record(self, event: Event) -> None:
        if not hasattr(self, "_pending"):
            self._pending = []
        self._pending.append(event)

    @property
    def pending_events(self) -> tuple[Event, ...]:
        return tuple(getattr(self, "_pending", ()))

    def pull_events(self) -> list[Event]:
        """Return and forget the events recorded since the last pull."""
        events = list(getattr(self, "_pending", ()))
        self._pending = []
        return events
