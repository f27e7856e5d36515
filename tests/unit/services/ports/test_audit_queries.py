"""The audit trail's read port: what a filter may say, and the empty trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kingdom.domain.access import ReadScope
from kingdom.domain.shared import Invalid
from kingdom.services.ports import Page, PageRequest
from kingdom.services.ports.audit_queries import AuditFilter, NoAuditTrail

NOON = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_window_may_be_empty_but_not_reversed() -> None:
    assert AuditFilter(since=NOON, until=NOON).until == NOON
    with pytest.raises(Invalid, match="'since' must not be later than 'until'"):
        AuditFilter(since=NOON + timedelta(seconds=1), until=NOON)


def test_instants_need_an_offset() -> None:
    with pytest.raises(Invalid, match="offset"):
        AuditFilter(since=datetime(2024, 5, 1, 12))


def test_types_name_at_least_one_event_type() -> None:
    with pytest.raises(Invalid, match="at least one event type"):
        AuditFilter(event_types=frozenset())


async def test_the_empty_trail_lists_and_finds_nothing() -> None:
    trail = NoAuditTrail()

    assert await trail.list(ReadScope.everything(), PageRequest.first(5)) == Page.empty()
    assert await trail.by_ids(ReadScope.everything(), ["m-1"]) == {}
