"""Client-side optimistic concurrency: "change it only if it is still as I saw it"."""

from __future__ import annotations

from kingdom.domain.shared import Aggregate, Conflict


class StaleVersion(Conflict):
    """The client's copy is out of date.

    A plain :class:`Conflict`, deliberately not a ``ConcurrencyConflict``:
    retrying cannot help, the client has to look again and decide again.
    """

    def __init__(self, noun: str, id: str, expected: int, actual: int) -> None:
        super().__init__(f"{noun} {id!r} is at version {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


def ensure_version(aggregate: Aggregate, expected: int | None, noun: str) -> None:
    """Raise :class:`StaleVersion` unless ``expected`` is ``None`` or the current version."""
    if expected is not None and aggregate.version != expected:
        raise StaleVersion(noun, aggregate.id, expected, aggregate.version)
