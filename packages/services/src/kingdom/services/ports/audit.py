"""The audit trail: one entry per committed event, readable by people.

The worker handler :func:`kingdom.services.audit.handlers.record_audit` writes
the entries (described by :mod:`kingdom.services.audit.entries`); a unit of
work exposes them as ``uow.audit``. Entries are facts about facts: added once,
keyed by the event's ``message_id``, never changed.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime

from kingdom.domain.shared import Conflict
from kingdom.services.ports.tracking import Keeper


@dataclass(frozen=True)
class AuditEntry:
    """What happened (``summary``), to what (subject), by whom, when, and which event said so."""

    message_id: str
    """The event's id: one entry per event."""
    event_type: str
    """The event's stable name, as the event codec stores it (``ledger.TransferCompleted``)."""
    occurred_at: datetime
    recorded_at: datetime
    subject_type: str
    """The kind of thing it happened to: ``user``, ``role``, ``account``."""
    subject_id: str
    summary: str
    """Short, secret-free text for people (``transferred 250 from acc-1 to acc-2 (EUR)``)."""
    actor_id: str | None = None
    """The user who caused it, when the event says so."""
    related_ids: tuple[str, ...] = ()
    """Other things involved: the other account of a transfer, the role of a grant."""
    trace_parent: str | None = None
    """W3C ``traceparent`` of the request that caused the event, if known."""
    request_id: str | None = None
    """``X-Request-ID`` of the request that caused the event, if known (its access log line's)."""


class AuditTrail(Keeper[AuditEntry]):
    """The entries in one unit of work: found now, added on commit, never changed."""

    noun = "audit entry"

    def add(self, entry: AuditEntry) -> None:
        """Stage ``entry``; one for the same event already stored conflicts at commit."""
        if entry.message_id in self._seen:
            raise Conflict(f"{self.noun} {entry.message_id!r} already exists")
        self._stage(entry)

    async def find(self, message_id: str) -> AuditEntry | None:
        """The entry for event ``message_id`` (stored, or added here), or ``None``."""
        if message_id in self._seen:
            return self._seen[message_id]
        return self._track(await self._find(message_id))

    def changed(self, record: AuditEntry) -> bool:
        return False  # written once, when added

    def stored(self, record: AuditEntry) -> None:
        pass

    def _key(self, record: AuditEntry) -> str:
        return record.message_id

    @abstractmethod
    async def _find(self, message_id: str) -> AuditEntry | None: ...
