"""Reading the audit trail: newest first, filtered, within the caller's audit scope.

The entries are the :class:`~kingdom.services.ports.audit.AuditEntry`
records the workers wrote; reads return them as they are (they are already
flat, and never change). The caller's :class:`~kingdom.domain.access.ReadScope`
on the ``audit`` resource selects entries by message id (``"*"``: all of
them); entries belong to nobody, so a scope's owner adds none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kingdom.domain.access import ReadScope
from kingdom.domain.shared import Invalid
from kingdom.services.ports.audit import AuditEntry
from kingdom.services.ports.queries import Page, PageRequest


@dataclass(frozen=True)
class AuditSubject:
    """What an entry happened to, as the trail stores it (``user``, ``u-1``)."""

    type: str
    id: str


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a listing returns; every condition given must hold (AND).

    ``since`` is inclusive and ``until`` exclusive, so consecutive windows
    neither overlap nor leave gaps. ``event_types`` are the codec's stable
    names; ``None`` means any type.
    """

    subject: AuditSubject | None = None
    actor_id: str | None = None
    event_types: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.utcoffset() is None:
                raise Invalid("a point in time needs its offset from UTC (e.g. Z or +02:00)")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise Invalid("'since' must not be later than 'until'")
        if self.event_types is not None and not self.event_types:
            raise Invalid("'types' needs at least one event type (leave it out for any)")


class AuditQueries(ABC):
    """The audit trail, newest first (``occurred_at``, then message id, both descending)."""

    @abstractmethod
    async def list(
        self, scope: ReadScope, page: PageRequest, filter: AuditFilter | None = None
    ) -> Page[AuditEntry]:
        """The page of entries in ``scope`` matching ``filter``; denied: an empty page.

        Cursors are bound to the filter: one from another filter is ``Invalid``.
        """

    @abstractmethod
    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, AuditEntry]:
        """The entries with these message ids that ``scope`` allows (missing = hidden)."""


class NoAuditTrail(AuditQueries):
    """A trail with no entries: for an API built without one (its tests, tools)."""

    async def list(
        self, scope: ReadScope, page: PageRequest, filter: AuditFilter | None = None
    ) -> Page[AuditEntry]:
        return Page.empty()

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, AuditEntry]:
        return {}
