"""Outgoing mail in SQL: rendered mails waiting for the worker that sends them.

A row is inserted in the transaction of the change it tells about (a reset
token), under the id of the event that announces the change, and deleted in
the worker's transaction once the mail is sent, refused for good or expired.
Its body may hold a one-time secret in plain text, so the table is meant to
be nearly empty: see :mod:`kingdom.services.mail.handlers` for who reads it
and how soon rows go.

:meth:`SqlOutgoingMailbox.find` locks the row (``FOR UPDATE``; SQLite's
single writer needs nothing), so two deliveries of one event never both
send: the second waits, then finds the row gone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String, Table, Text, bindparam, delete, insert, select

from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.records import SqlTransaction
from kingdom.adapters.sql.types import UtcDateTime
from kingdom.services.ports import Change
from kingdom.services.ports.publishing import OutgoingMail, OutgoingMailbox
from kingdom.services.ports.tracking import Tracker

outgoing_mail = Table(
    "outgoing_mail",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    # Serves pruning: "mails expired by T".
    Index(None, "expires_at"),
)

_COLUMNS = tuple(column.key for column in outgoing_mail.c)
_INSERT = insert(outgoing_mail)
_FIND = select(outgoing_mail).where(outgoing_mail.c.id == bindparam("id")).with_for_update()
_DELETE = delete(outgoing_mail).where(outgoing_mail.c.id == bindparam("id"))


class SqlOutgoingMailbox(OutgoingMailbox):
    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self._transaction = transaction

    async def _find(self, mail_id: str) -> OutgoingMail | None:
        row = (await self._transaction.execute(_FIND, {"id": mail_id})).mappings().one_or_none()
        return None if row is None else OutgoingMail(**row)

    async def prune(self, now: datetime) -> int:
        result = await self._transaction.execute(
            delete(outgoing_mail).where(outgoing_mail.c.expires_at <= now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def write(self, change: Change) -> None:
        """Insert a staged mail, or delete a removed one (in the commit's transaction)."""
        mail: OutgoingMail = change.record
        if not self.removed(mail):
            await self._transaction.execute(_INSERT, {key: getattr(mail, key) for key in _COLUMNS})
        elif not change.new:
            # No row count check: the row is locked since it was found, so it
            # is still there (SQLite: this transaction is the only writer).
            await self._transaction.execute(_DELETE, {"id": mail.id})
