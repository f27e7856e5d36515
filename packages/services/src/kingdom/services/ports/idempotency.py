"""Idempotency records: what a keyed command answered, kept for a while.

The rule that uses them lives in :mod:`kingdom.services.idempotency`. A unit
of work exposes the records as ``uow.idempotency``: :meth:`find` reads now,
in the unit of work's transaction; :meth:`add` stages a record that
``uow.commit()`` writes in the same transaction as the state and the outbox,
so a record exists exactly when its effect does.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime

from kingdom.domain.shared import Invalid
from kingdom.services.ports.tracking import Keeper, Tracker
from kingdom.services.ports.unit_of_work import ConcurrencyConflict


@dataclass(frozen=True)
class IdempotencyRecord:
    """One keyed request that took effect: who, which key, what was asked, what it answered."""

    scope: str
    """Whose key it is (``user:<id>``, or ``address:<ip>`` for anonymous callers)."""
    key: str
    fingerprint: str
    """A digest of the command's input (see :func:`kingdom.services.idempotency.fingerprint`)."""
    result: str
    """The handler's return value, as JSON."""
    created_at: datetime


class IdempotencyKeyReused(Invalid):
    """The key was used before, by the same caller, for a different request."""

    def __init__(self) -> None:
        super().__init__(
            "this idempotency key was already used for a different request; "
            "use a new key for a new request"
        )


class IdempotencyKeyInUse(ConcurrencyConflict):
    """Another request with the same key is being handled: retry with the same key.

    A :class:`ConcurrencyConflict`, so the message bus runs the command again
    (which then finds the first request's answer); it reaches the client only
    when the retries run out.
    """

    def __init__(self) -> None:
        super().__init__(
            "a request with this idempotency key is still in progress; retry with the same key"
        )


class IdempotencyRecords(Keeper[IdempotencyRecord]):
    """The records in one unit of work: found now, added on commit, never changed.

    Adapters write each staged record at commit (the change the tracker
    hands back): an INSERT, after deleting the expired record it
    :meth:`replaces` if any.
    """

    noun = "idempotency record"

    def __init__(self, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self._replaces: dict[str, IdempotencyRecord] = {}

    def add(self, record: IdempotencyRecord, *, replaces: IdempotencyRecord | None = None) -> None:
        """Stage ``record`` for the commit, in place of the expired ``replaces`` if given.

        The commit raises :class:`IdempotencyKeyInUse` if the key was taken
        (or ``replaces`` changed) by a concurrent transaction.
        """
        if replaces is not None:
            self._replaces[self._key(record)] = replaces
        self._stage(record)

    def replaces(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """The expired record ``record`` takes the place of, if any."""
        return self._replaces.get(self._key(record))

    def changed(self, record: IdempotencyRecord) -> bool:
        return False  # written once, when added

    def stored(self, record: IdempotencyRecord) -> None:
        pass

    def _key(self, record: IdempotencyRecord) -> str:
        return f"{record.scope}\n{record.key}"

    @abstractmethod
    async def find(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The stored record for ``key`` in ``scope``, expired or not."""

    @abstractmethod
    async def prune(self, before: datetime) -> int:
        """Delete the records created before ``before``; returns how many.

        In the unit of work's transaction, so it is undone by a rollback (the
        in-memory fake deletes at once: its only caller commits right after).
        """
