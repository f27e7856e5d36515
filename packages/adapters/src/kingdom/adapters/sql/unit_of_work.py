"""The SQL unit of work: one write transaction, its repositories, and the outbox.

Each ``async with uow:`` block gets a fresh :class:`AsyncSession` on
``database.writer`` (so the transaction runs at the configured isolation
level on PostgreSQL and starts with ``BEGIN IMMEDIATE`` on SQLite).
``commit`` writes, in one transaction:

1. every new aggregate (version 0 -> 1) and every changed one, whose version
   goes up by one in the row and in memory; the UPDATE carries
   ``WHERE version = :seen`` (the mapper's version column), so a concurrent
   change makes it match no row -> :class:`ConcurrencyConflict`;
2. the users' role assignments (``user_roles``), staged transfers, any
   new or redeemed reset tokens, and new, rotated or revoked refresh
   sessions (a changed session is updated only while its stored token hash
   is still the one loaded, else :class:`ConcurrencyConflict`; see
   :mod:`kingdom.adapters.sql.mapping`);
3. one outbox row per event (see :mod:`kingdom.adapters.sql.outbox`).

Database failures are translated by :mod:`kingdom.adapters.sql.errors`. A
failed commit writes nothing and leaves every in-memory version as it was.

Loads take no row locks: at REPEATABLE READ PostgreSQL already refuses to
update a row changed since the transaction's snapshot (40001), the version
check catches the rest (READ COMMITTED), and SQLite has a single writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from kingdom.adapters.identity.repositories import (
    SqlRefreshSessionRepository,
    SqlResetTokenRepository,
    SqlRoleRepository,
    SqlUserRepository,
)
from kingdom.adapters.ledger.repositories import SqlAccountRepository, SqlTransferLog
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.errors import translated_errors
from kingdom.adapters.sql.event_codec import EVENTS, EventCodec
from kingdom.adapters.sql.mapping import start_mappers
from kingdom.adapters.sql.outbox import EventSource, write_outbox
from kingdom.domain.identity import User
from kingdom.domain.shared import Aggregate, Event
from kingdom.services.ports import UnitOfWork


class SqlUnitOfWork(UnitOfWork):
    users: SqlUserRepository
    roles: SqlRoleRepository
    accounts: SqlAccountRepository
    transfers: SqlTransferLog
    reset_tokens: SqlResetTokenRepository
    sessions: SqlRefreshSessionRepository

    def __init__(self, database: Database, *, codec: EventCodec = EVENTS) -> None:
        start_mappers()
        super().__init__()
        self._session_factory = async_sessionmaker(
            database.writer,
            expire_on_commit=False,  # aggregates stay readable after commit
            autoflush=False,  # nothing reaches the database before commit decides the versions
        )
        self._codec = codec
        self._origins: dict[int, Aggregate] = {}
        self._open()

    @property
    def session(self) -> AsyncSession:
        """The current ORM session (for tests and adapters that need raw access)."""
        return self._session

    def _open(self) -> None:
        self._session = self._session_factory()
        self.users = SqlUserRepository(self._session)
        self.roles = SqlRoleRepository(self._session)
        self.accounts = SqlAccountRepository(self._session)
        self.transfers = SqlTransferLog(self._session)
        self.reset_tokens = SqlResetTokenRepository(self._session)
        self.sessions = SqlRefreshSessionRepository(self._session)

    async def commit(self) -> None:
        # The base class drains events before _commit sees them; note first
        # which aggregate each came from, for the outbox rows.
        self._origins = {
            id(event): aggregate
            for aggregate in self._aggregates()
            for event in aggregate.pending_events
        }
        try:
            await super().commit()
        finally:
            self._origins = {}

    async def _commit(self, events: Sequence[Event]) -> None:
        # Taken before the version bump: a failed commit puts everything back.
        as_loaded = _snapshot(self._tracked())
        for aggregate in list(self._to_write()):
            aggregate.version = aggregate.version + 1
        # After the bump: each outbox row names the version its event produced.
        # Rows go in time order (stable: same-instant events keep their order),
        # so a role's creation precedes its assignment although the base class
        # lists events repository by repository.
        outbox = [
            (event, self._source_of(event))
            for event in sorted(events, key=lambda event: event.occurred_at)
        ]
        try:
            async with translated_errors():
                await self._flush_in_dependency_order()
                await self.users.write_role_codes()
                await self.transfers.write()
                await write_outbox(self._session, outbox, self._codec)
                await self._session.commit()
        except BaseException:
            await self._close(as_loaded)
            raise
        self.users.role_codes_committed()
        self.transfers.written()

    async def _rollback(self) -> None:
        await self._close(_snapshot(self._tracked()))

    async def _close(self, state: _Snapshot) -> None:
        """End the transaction and session; start afresh with empty repositories.

        Rolling back expires every object the session knew (after a failed
        flush they already are), and an expired attribute cannot be read
        outside the session's async context. The records get ``state`` back
        as plain, detached objects, so whoever still holds one can read it.
        """
        try:
            await self._session.rollback()
        finally:
            await self._session.close()
            _restore(state)
            self._open()

    def _tracked(self) -> list[object]:
        return [*self._aggregates(), *self.reset_tokens.seen, *self.sessions.seen]

    async def _flush_in_dependency_order(self) -> None:
        """INSERT new records parents first; UPDATE changed ones (on the first flush).

        Without ORM relationships between the mapped classes the session does
        not know that an account needs its owner, so new objects join the
        session in foreign-key order, one flush per level.
        """
        levels: list[Iterable[object]] = [
            (*self.users.seen, *self.roles.seen),
            (*self.accounts.seen, *self.reset_tokens.seen, *self.sessions.seen),
        ]
        for level in levels:
            self._session.add_all(record for record in level if inspect(record).transient)
            await self._session.flush()

    def _to_write(self) -> Iterator[Aggregate]:
        """New aggregates, and loaded ones whose columns (or a user's roles) changed."""
        for aggregate in self._aggregates():
            state = inspect(aggregate)
            if state.transient or state.pending or self._changed(aggregate):
                yield aggregate

    def _changed(self, aggregate: Aggregate) -> bool:
        # is_modified compares values (an equal set re-assigned is no change).
        if self._session.is_modified(aggregate):
            return True
        return isinstance(aggregate, User) and self.users.role_codes_changed(aggregate)

    def _source_of(self, event: Event) -> EventSource | None:
        origin = self._origins.get(id(event))
        if origin is None:
            return None
        return EventSource(type(origin).__name__.lower(), origin.id, origin.version)


_Snapshot = list[tuple[object, dict[str, Any]]]


def _snapshot(records: Iterable[object]) -> _Snapshot:
    """The mapped column values of ``records``, as they are now."""
    return [
        (
            record,
            {attr.key: getattr(record, attr.key) for attr in inspect(record).mapper.column_attrs},
        )
        for record in records
    ]


def _restore(snapshot: _Snapshot) -> None:
    for record, values in snapshot:
        for key, value in values.items():
            set_committed_value(record, key, value)
