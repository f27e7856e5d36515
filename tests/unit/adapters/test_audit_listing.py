"""The audit trail's SQL read side, its pure parts: filter conditions and cursor binding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from kingdom.adapters.sql.audit_queries import conditions, listing_name
from kingdom.services.ports.audit_queries import AuditFilter, AuditSubject

NOON = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_the_whole_trail_has_no_conditions_and_the_plain_listing_name() -> None:
    assert conditions(AuditFilter()) == []
    assert listing_name(AuditFilter()) == "audit"


def test_every_condition_given_is_one_where_clause() -> None:
    found = conditions(
        AuditFilter(
            subject=AuditSubject("user", "u-1"),
            actor_id="u-2",
            event_types=frozenset({"identity.UserDisabled"}),
            since=NOON,
            until=NOON + timedelta(hours=1),
        )
    )
    assert len(found) == 6  # subject id and kind, actor, types, since, until


def test_cursors_are_bound_to_the_filter_not_to_how_it_was_spelled() -> None:
    filters = [
        AuditFilter(subject=AuditSubject("user", "u-1")),
        AuditFilter(subject=AuditSubject("role", "u-1")),
        AuditFilter(actor_id="u-1"),
        AuditFilter(event_types=frozenset({"a", "b"})),
        AuditFilter(since=NOON),
        AuditFilter(until=NOON),
        # Values that would collide if the name were naively joined.
        AuditFilter(subject=AuditSubject("user", 'u-1","u-2')),
    ]
    names = [listing_name(f) for f in filters]

    assert len(set(names)) == len(names)
    assert all(name.startswith("audit?") for name in names)
    two_hours_ahead = NOON.astimezone(timezone(timedelta(hours=2)))
    assert listing_name(AuditFilter(since=two_hours_ahead)) == listing_name(AuditFilter(since=NOON))
    assert listing_name(AuditFilter(event_types=frozenset({"b", "a"}))) == names[3]
