"""The SQL unit of work: one write transaction, its repositories, and the outbox.

It is used once: the repositories share one :class:`SqlTransaction` on
``database.writer`` (the configured isolation level on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), begun by the first statement. ``commit``
takes the (record, events) :class:`~kingdom.services.ports.Change` pairs the
repositories registered, in registration order (parents before what refers
to them), and in that one transaction:

1. hands every new or changed record back to the repository that
   registered it (:class:`SqlKeeper`), which INSERTs it or UPDATEs it as a
   compare-and-set on its guard column (see :mod:`kingdom.adapters.sql.records`);
   an aggregate's stored version goes up by one, in memory only once the
   transaction committed. Plain records go the same way: idempotency
   records, inbox entries, audit entries, outgoing mail (deleted once sent);
2. writes one outbox row per event, naming its aggregate, the version
   the event produced and the current trace's ``traceparent``
   (:mod:`kingdom.services.tracing`; see :mod:`kingdom.adapters.sql.outbox`);
3. commits, and closes. Nothing is rebuilt: the next command gets a new
   unit of work from the factory.

After a commit that wrote outbox rows it calls ``after_commit`` if one was
given (the server passes its in-process relay's ``wake``, so events leave at
once instead of at the next poll). The commit stands whatever the hook does:
a hook that raises is logged, not propagated.

A failed commit writes nothing and leaves every in-memory version as it
was. Database failures are translated by :mod:`kingdom.adapters.sql.errors`.
The unit of work names no record type: a new aggregate needs a repository
(with a ``write``), a table and a migration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from sqlalchemy import insert

from kingdom.adapters.identity.repositories import (
    SqlRefreshSessionRepository,
    SqlResetTokenRepository,
    SqlRoleRepository,
    SqlUserRepository,
)
from kingdom.adapters.ledger.repositories import SqlAccountRepository, SqlTransferLog
from kingdom.adapters.sql.audit import SqlAuditTrail
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.event_codec import EVENTS, EventCodec
from kingdom.adapters.sql.idempotency import SqlIdempotencyRecords
from kingdom.adapters.sql.inbox import SqlInbox
from kingdom.adapters.sql.outbox import EventSource, outbox, outbox_row
from kingdom.adapters.sql.outgoing_mail import SqlOutgoingMailbox
from kingdom.adapters.sql.records import SqlTransaction
from kingdom.services.causation import current_actor_id, current_request_id
from kingdom.services.ports import Change, UnitOfWork
from kingdom.services.tracing import current_trace_parent

logger = logging.getLogger(__name__)

_INSERT_OUTBOX = insert(outbox)


class SqlKeeper(Protocol):
    """What the SQL unit of work asks of each repository: write one registered record."""

    async def write(self, change: Change) -> None: ...


class SqlUnitOfWork(UnitOfWork):
    users: SqlUserRepository
    roles: SqlRoleRepository
    accounts: SqlAccountRepository
    transfers: SqlTransferLog
    reset_tokens: SqlResetTokenRepository
    sessions: SqlRefreshSessionRepository
    idempotency: SqlIdempotencyRecords
    inbox: SqlInbox
    audit: SqlAuditTrail
    outgoing_mail: SqlOutgoingMailbox

    def __init__(
        self,
        database: Database,
        *,
        codec: EventCodec = EVENTS,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        """``after_commit``: called after each commit that wrote outbox rows; must not block."""
        super().__init__()
        self.transaction = SqlTransaction(database.writer)
        self._codec = codec
        self._after_commit = after_commit
        transaction, tracker = self.transaction, self.tracker
        self.users = SqlUserRepository(transaction, tracker)
        self.roles = SqlRoleRepository(transaction, tracker)
        self.accounts = SqlAccountRepository(transaction, tracker)
        self.transfers = SqlTransferLog(transaction, tracker)
        self.reset_tokens = SqlResetTokenRepository(transaction, tracker)
        self.sessions = SqlRefreshSessionRepository(transaction, tracker)
        self.idempotency = SqlIdempotencyRecords(transaction, tracker)
        self.inbox = SqlInbox(transaction, tracker)
        self.audit = SqlAuditTrail(transaction, tracker)
        self.outgoing_mail = SqlOutgoingMailbox(transaction, tracker)

    async def _commit(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.write:
                await cast(SqlKeeper, change.keeper).write(change)
        rows = [(event, _source(change)) for change in changes for event in change.events]
        if rows:
            # Time order (stable): a role's creation precedes its assignment
            # even when the user registered first.
            rows.sort(key=lambda pair: pair[0].occurred_at)
            # The trace current at commit (the request's, the command's span):
            # the workers that handle these events continue it.
            # And who acted (the command's actor) in which request, for the audit trail.
            origin = {
                "trace_parent": current_trace_parent(),
                "actor_id": current_actor_id(),
                "request_id": current_request_id(),
            }
            await self.transaction.execute(
                _INSERT_OUTBOX,
                [{**outbox_row(event, source, self._codec), **origin} for event, source in rows],
            )
        await self.transaction.commit()
        if rows and self._after_commit is not None:
            _announce(self._after_commit)

    async def _rollback(self) -> None:
        await self.transaction.rollback()


def _announce(hook: Callable[[], None]) -> None:
    # The transaction is committed: raising now would report a change that
    # happened as one that did not (and make the bus retry it).
    try:
        hook()
    except Exception:
        logger.exception("the after-commit hook failed; the commit stands")


def _source(change: Change) -> EventSource:
    record = change.record
    return EventSource(type(record).__name__.lower(), record.id, change.version or 0)
