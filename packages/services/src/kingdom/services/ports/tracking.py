"""What a unit of work writes: the records its repositories registered, in order.

A repository registers every record it loads or is given (:meth:`Keeper._track`,
:meth:`Keeper._stage`) with the unit of work's :class:`Tracker`; at commit the
tracker turns them into :class:`Change` entries — (record, events) pairs plus
whether the record's state must be written — and the adapter hands each one
back to the repository that registered it. So the unit of work knows no
record type: a new aggregate needs its repository (and, in SQL, its table and
migration), nothing here.

Registration order is write order: a handler loads or adds a parent before
what refers to it (the owner before the account), so inserts satisfy foreign
keys without a hard-coded flush order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from kingdom.domain.shared import Aggregate, Event

R = TypeVar("R")


@dataclass(frozen=True)
class Change:
    """One registered record at commit: its events, and whether its state is written."""

    record: Any
    keeper: Keeper[Any]
    new: bool
    write: bool
    events: tuple[Event, ...]

    @property
    def version(self) -> int | None:
        """The aggregate's version once this commit succeeds (``None`` for plain records)."""
        if not isinstance(self.record, Aggregate):
            return None
        return self.record.version + 1 if self.write else self.record.version


class Tracker:
    """The records one unit of work registered, oldest first."""

    def __init__(self) -> None:
        self._entries: list[tuple[Keeper[Any], Any, bool]] = []

    def register(self, keeper: Keeper[Any], record: object, *, new: bool) -> None:
        self._entries.append((keeper, record, new))

    def changes(self) -> list[Change]:
        """Every record that is new, changed or carries events; drains the events."""
        found = []
        for keeper, record, new in self._entries:
            write = new or keeper.changed(record)
            events = tuple(record.pull_events()) if isinstance(record, Aggregate) else ()
            if write or events:
                found.append(Change(record, keeper, new, write, events))
        return found

    def discard_events(self) -> None:
        for _keeper, record, _new in self._entries:
            if isinstance(record, Aggregate):
                record.pull_events()

    def committed(self, changes: list[Change]) -> None:
        """The changes are stored: bump versions, and let each keeper note the new state."""
        for change in changes:
            if change.write:
                if isinstance(change.record, Aggregate):
                    change.record.version += 1
                change.keeper.stored(change.record)


class Keeper(ABC, Generic[R]):
    """A repository as the unit of work sees it: an identity map that registers records.

    Subclasses (the ports' repositories) call :meth:`_track` for what they
    load and :meth:`_stage` for what they are given; adapters implement
    :meth:`changed` (is the record different from what was loaded?) and
    :meth:`stored` (remember the record's state as now stored), and write
    the records in the unit of work's commit.
    """

    noun: ClassVar[str] = "record"
    """How error messages name the record ("user 'u-1' does not exist")."""

    def __init__(self, tracker: Tracker | None = None) -> None:
        self._tracker = tracker or Tracker()
        self._seen: dict[str, R] = {}

    @property
    def seen(self) -> tuple[R, ...]:
        """Every record loaded or added through this repository, in that order."""
        return tuple(self._seen.values())

    def _track(self, found: R | None) -> R | None:
        """Remember a loaded record, or return the copy already remembered (identity map)."""
        if found is None:
            return None
        key = self._key(found)
        if key in self._seen:
            return self._seen[key]
        self._seen[key] = found
        self._tracker.register(self, found, new=False)
        return found

    def _stage(self, record: R) -> None:
        """Remember a new record: it is inserted when the unit of work commits."""
        self._seen[self._key(record)] = record
        self._tracker.register(self, record, new=True)

    def _key(self, record: R) -> str:
        key: str = getattr(record, "id")  # noqa: B009 - every record has an id
        return key

    @abstractmethod
    def changed(self, record: R) -> bool:
        """Whether a loaded ``record`` differs from its stored state."""

    @abstractmethod
    def stored(self, record: R) -> None:
        """``record`` as it is now was committed (after the version bump)."""
