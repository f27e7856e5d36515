"""The unit of work: one transaction, its repositories, and the events it commits.

A handler opens one with ``async with uow:``, changes aggregates through the
repositories and calls ``await uow.commit()``. Leaving the block without
committing (an exception, or an early return) rolls everything back, so a
handler that fails half-way changes nothing.

A unit of work is single-use: one block, at most one commit, then it is
closed (the message bus makes a new one per attempt). Repositories register
what they load and add with its :class:`~kingdom.services.ports.tracking.Tracker`;
commit turns that into (record, events) :class:`Change` pairs and the adapter
writes them, with their outbox rows, in one transaction. The unit of work
never names a record type: adding an aggregate means a repository attribute
below (how handlers reach it) and the adapter's repository.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from kingdom.domain.shared import Conflict, Event
from kingdom.services.ports.audit import AuditTrail
from kingdom.services.ports.inbox import Inbox
from kingdom.services.ports.publishing import OutgoingMailbox
from kingdom.services.ports.repositories import (
    AccountRepository,
    RefreshSessionRepository,
    ResetTokenRepository,
    RoleRepository,
    TransferLog,
    UserRepository,
)
from kingdom.services.ports.tracking import Change, Tracker

if TYPE_CHECKING:  # it imports ConcurrencyConflict from here
    from kingdom.services.ports.idempotency import IdempotencyRecords


class ConcurrencyConflict(Conflict):
    """Someone else changed the same data first (stale version, serialization failure).

    Unlike other conflicts this one is transient: running the command again on
    fresh data may well succeed, so the message bus retries it.
    """


class UnitOfWork(ABC):
    """Repositories sharing one transaction, used once.

    Subclasses build their repositories on :attr:`tracker` (in ``__init__``),
    call ``super().__init__()`` first, and implement :meth:`_commit` and
    :meth:`_rollback`.
    """

    users: UserRepository
    roles: RoleRepository
    accounts: AccountRepository
    transfers: TransferLog
    reset_tokens: ResetTokenRepository
    sessions: RefreshSessionRepository
    idempotency: IdempotencyRecords
    inbox: Inbox
    """Which worker handler processed which delivered message (the idempotent consumer)."""
    audit: AuditTrail
    outgoing_mail: OutgoingMailbox
    """Rendered mails waiting for the worker that sends them (see :mod:`.publishing`)."""

    def __init__(self) -> None:
        self.tracker = Tracker()
        self._committed_events: list[Event] = []
        self._entered = False
        self._closed = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a unit of work is used once: make a new one")
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After a commit there is nothing left to discard.
        await self.rollback()

    async def commit(self) -> None:
        """Write every change atomically, or raise and write nothing; then close.

        The events of the registered aggregates are drained *before* writing
        and handed to :meth:`_commit` with their aggregates, so an adapter
        stores them in the same transaction (an outbox); they become visible to
        :meth:`collect_new_events` only once the write succeeded. In-memory
        versions go up only then: a failed commit leaves them as loaded.
        """
        if self._closed:
            raise RuntimeError("this unit of work already committed or rolled back")
        self._closed = True
        changes = self.tracker.changes()
        try:
            await self._commit(changes)
        except BaseException:
            await self._rollback()
            raise
        self.tracker.committed(changes)
        self._committed_events.extend(event for change in changes for event in change.events)

    async def rollback(self) -> None:
        """Discard every uncommitted change, including the events that described it."""
        self.tracker.discard_events()
        if not self._closed:
            self._closed = True
            await self._rollback()

    def collect_new_events(self) -> list[Event]:
        """Drain the events of the commit: facts the message bus may now announce.

        Only committed events come out, so nothing is announced that was
        rolled back.
        """
        events, self._committed_events = self._committed_events, []
        return events

    @abstractmethod
    async def _commit(self, changes: Sequence[Change]) -> None:
        """Persist ``changes`` and one outbox row per event, atomically; end the transaction.

        Each written aggregate's stored version goes from ``record.version``
        to :attr:`Change.version`, and only if the stored one is still
        ``record.version`` (else :class:`ConcurrencyConflict`; so is a
        unique-key violation on insert: a concurrent duplicate). Plain records
        (sessions, tokens) are compared on what their repository guards.
        On failure nothing is written and :meth:`_rollback` follows.
        """

    @abstractmethod
    async def _rollback(self) -> None:
        """Discard uncommitted changes and release the transaction (called at most once)."""
