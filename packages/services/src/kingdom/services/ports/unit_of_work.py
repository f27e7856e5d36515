"""The unit of work: one transaction, its repositories, and the events it commits.

A handler opens one with ``async with uow:``, changes aggregates through the
repositories and calls ``await uow.commit()``. Leaving the block without
committing (an exception, or an early return) rolls everything back, so a
handler that fails half-way changes nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Self

from kingdom.domain.shared import Aggregate, Conflict, Event
from kingdom.services.ports.repositories import (
    AccountRepository,
    RefreshSessionRepository,
    ResetTokenRepository,
    RoleRepository,
    TransferLog,
    UserRepository,
)


class ConcurrencyConflict(Conflict):
    """Someone else changed the same data first (stale version, serialization failure).

    Unlike other conflicts this one is transient: running the command again on
    fresh data may well succeed, so the message bus retries it.
    """


class UnitOfWork(ABC):
    """Repositories sharing one transaction.

    Subclasses set the six repository attributes (in ``__init__`` or
    ``__aenter__``), call ``super().__init__()``, and implement
    :meth:`_commit` and :meth:`_rollback`.
    """

    users: UserRepository
    roles: RoleRepository
    accounts: AccountRepository
    transfers: TransferLog
    reset_tokens: ResetTokenRepository
    sessions: RefreshSessionRepository

    def __init__(self) -> None:
        self._committed_events: list[Event] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After a commit this discards nothing; otherwise it discards everything.
        await self.rollback()

    async def commit(self) -> None:
        """Write every change atomically, or raise and write nothing.

        The events of the changed aggregates are drained *before* writing and
        handed to :meth:`_commit`, so an adapter can store them in the same
        transaction (an outbox); they become visible to
        :meth:`collect_new_events` only once the write succeeded.
        """
        events = [event for aggregate in self._aggregates() for event in aggregate.pull_events()]
        await self._commit(events)
        self._committed_events.extend(events)

    async def rollback(self) -> None:
        """Discard every uncommitted change, including the events that described it."""
        # Drop the events first: _rollback may forget the aggregates that hold them.
        for aggregate in self._aggregates():
            aggregate.pull_events()
        await self._rollback()

    def collect_new_events(self) -> list[Event]:
        """Drain the events of every commit so far: facts the message bus may now announce.

        Only committed events come out, so nothing is announced that was
        rolled back.
        """
        events, self._committed_events = self._committed_events, []
        return events

    def _aggregates(self) -> Iterator[Aggregate]:
        """Every aggregate whose events :meth:`commit` collects (extend it for new repositories)."""
        yield from self.users.seen
        yield from self.roles.seen
        yield from self.accounts.seen

    @abstractmethod
    async def _commit(self, events: Sequence[Event]) -> None:
        """Persist the changes of every seen aggregate and record, atomically.

        Updates compare the aggregate's ``version`` with the stored one and
        raise :class:`ConcurrencyConflict` when it is stale (so do unique-key
        violations on insert: a concurrent duplicate); each written aggregate's
        stored and in-memory ``version`` then goes up by one. Changed refresh
        sessions are written only if their stored token hash is still the one
        loaded (else :class:`ConcurrencyConflict`).
        """

    @abstractmethod
    async def _rollback(self) -> None:
        """Discard uncommitted changes.

        Runs on every exit from ``async with``, after a successful commit too,
        where it must be harmless (as a database rollback after commit is).
        """
