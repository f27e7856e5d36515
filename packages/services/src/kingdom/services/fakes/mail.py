"""Outgoing mail in memory, checked and written (or deleted) by the fake unit of work's commit."""

from __future__ import annotations

from datetime import datetime

from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import Change, ConcurrencyConflict
from kingdom.services.ports.publishing import OutgoingMail, OutgoingMailbox
from kingdom.services.ports.tracking import Tracker


class FakeOutgoingMailbox(OutgoingMailbox):
    """``store.outgoing_mail``, keyed by id (the SQL table's primary key)."""

    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store

    async def _find(self, mail_id: str) -> OutgoingMail | None:
        return self.store.outgoing_mail.get(mail_id)  # frozen: no copy needed

    async def prune(self, now: datetime) -> int:
        # At once rather than on commit, like the fake inbox's prune.
        table = self.store.outgoing_mail
        expired = [key for key, mail in table.items() if mail.expires_at <= now]
        for key in expired:
            del table[key]
        return len(expired)

    def check(self, change: Change) -> None:
        mail: OutgoingMail = change.record
        # A removal needs no check: the SQL adapter's row lock keeps everyone
        # else away from a mail between finding and deleting it.
        if not self.removed(mail) and mail.id in self.store.outgoing_mail:
            raise ConcurrencyConflict(f"{self.noun} {mail.id!r} was added concurrently")

    def write(self, change: Change) -> None:
        mail: OutgoingMail = change.record
        if self.removed(mail):
            self.store.outgoing_mail.pop(mail.id, None)
        else:
            self.store.outgoing_mail[mail.id] = mail
