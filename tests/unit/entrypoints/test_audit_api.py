"""The audit trail's API, its pure parts: the filter input, trace ids, subject ids, the price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kingdom.domain.access import Permission, ReadScope, authorize, compile_policies
from kingdom.domain.shared import Invalid
from kingdom.entrypoints.admin import system_actor
from kingdom.entrypoints.graphql import global_ids
from kingdom.entrypoints.graphql.audit import subject_id, trace_id
from kingdom.entrypoints.graphql.audit_filter import EVENT_TYPES, audit_filter, moment
from kingdom.entrypoints.graphql.documents import DocumentPreparer
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.graphql.nodes import policy_selector
from kingdom.entrypoints.graphql.schema import build_schema
from kingdom.services.audit import AUDITED
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.ports import AuditEntry
from kingdom.services.ports.audit_queries import AuditFilter, AuditSubject
from kingdom.services.resources import AUDIT

SCHEMA = build_schema()
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
NOON = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _entry(subject_type: str, subject: str) -> AuditEntry:
    return AuditEntry(
        message_id="m-1",
        event_type="identity.UserDisabled",
        occurred_at=NOON,
        recorded_at=NOON,
        subject_type=subject_type,
        subject_id=subject,
        summary="…",
    )


@pytest.mark.parametrize(
    ("trace_parent", "expected"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01", TRACE),
        (f"00-{TRACE}-00f067aa0ba902b7-00", TRACE),
        (f"01-{TRACE}-00f067aa0ba902b7-01-future-field", TRACE),  # later versions may add
        (f"00-{TRACE}-00f067aa0ba902b7-01-more", None),  # version 00 may not
        (f"ff-{TRACE}-00f067aa0ba902b7-01", None),  # version ff is forbidden
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),  # all-zero trace id
        (f"00-{TRACE}-{'0' * 16}-01", None),  # all-zero parent id
        (f"00-{TRACE.upper()}-00f067aa0ba902b7-01", None),  # lowercase hex only
        (f"00-{TRACE[:-1]}-00f067aa0ba902b7-01", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_the_trace_id_is_read_from_a_valid_traceparent_only(
    trace_parent: str | None, expected: str | None
) -> None:
    assert trace_id(trace_parent) == expected


def test_subjects_of_node_kinds_show_global_ids_and_others_their_raw_ids() -> None:
    assert subject_id(_entry("user", "u-1")) == global_ids.encode("User", "u-1")
    assert subject_id(_entry("role", "teller")) == global_ids.encode("Role", "teller")
    assert subject_id(_entry("account", "a-1")) == global_ids.encode("Account", "a-1")
    assert subject_id(_entry("transfer", "t-1")) == global_ids.encode("Transfer", "t-1")
    assert subject_id(_entry("session", "s-1")) == "s-1"


def test_no_filter_is_the_whole_trail() -> None:
    assert audit_filter(None) == AuditFilter()
    assert audit_filter({}) == AuditFilter()
    assert audit_filter({"subject_id": None, "types": None}) == AuditFilter()


def test_the_filter_decodes_global_ids_types_and_instants() -> None:
    given: dict[str, Any] = {
        "subject_id": global_ids.encode("Account", "a-1"),
        "actor_id": global_ids.encode("User", "u-1"),
        "types": ["ledger.AccountOpened", "ledger.AccountOpened", "ledger.AccountClosed"],
        "since": "2024-05-01T14:00:00+02:00",
        "until": "2024-05-02T12:00:00Z",
    }

    assert audit_filter(given) == AuditFilter(
        subject=AuditSubject("account", "a-1"),
        actor_id="u-1",
        event_types=frozenset({"ledger.AccountOpened", "ledger.AccountClosed"}),
        since=NOON,
        until=NOON + timedelta(days=1),
    )


@pytest.mark.parametrize(
    ("type_name", "kind"), [("User", "user"), ("Role", "role"), ("Account", "account")]
)
def test_a_subject_is_a_user_role_or_account(type_name: str, kind: str) -> None:
    found = audit_filter({"subject_id": global_ids.encode(type_name, "x-1")})
    assert found.subject == AuditSubject(kind, "x-1")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"subject_id": "x-1"}, "not a valid id"),  # a raw id
        ({"subject_id": global_ids.encode("Transfer", "t-1")}, "source account"),
        ({"subject_id": global_ids.encode("AuditEntry", "m-1")}, "not an AuditEntry"),
        ({"actor_id": global_ids.encode("Role", "r")}, "expected the id of a User"),
        ({"types": ["ledger.Nope"]}, "unknown event type 'ledger.Nope'"),
        ({"types": []}, "at least one event type"),
        ({"types": "ledger.AccountOpened"}, "a list of event type names"),
        ({"since": "2024-05-01T12:00:00"}, "with an offset"),
        ({"since": "2024-05-01"}, "with an offset"),
        ({"until": "noon"}, "with an offset"),
        ({"until": 1714564800}, "with an offset"),
        ({"until": "2024-05-01T12:00:00Z" + " " * 60}, "with an offset"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "out of range"),
        ({"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, "later than"),
    ],
)
def test_a_malformed_filter_is_invalid(given: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        audit_filter(given)


def test_instants_are_kept_in_utc_and_an_empty_window_is_allowed() -> None:
    one_hour_east = moment("until", "2024-05-01T13:00:00+01:00")

    assert moment("since", "2024-05-01T12:00:00Z") == NOON
    assert one_hour_east == NOON
    assert one_hour_east.utcoffset() == timedelta(0)
    empty = audit_filter({"since": "2024-05-01T12:00:00Z", "until": "2024-05-01T12:00:00Z"})
    assert empty.since == empty.until == NOON


def test_the_known_event_types_are_those_the_trail_records() -> None:
    recorded = {audited.name for audited in AUDITED.values()}
    assert recorded == EVENT_TYPES
    assert "ledger.TransferCompleted" in EVENT_TYPES


def test_audit_policies_select_audit_entries_by_global_or_raw_id() -> None:
    assert policy_selector("audit", global_ids.encode("AuditEntry", "m-1")) == "m-1"
    assert policy_selector("audit", "m-1") == "m-1"
    with pytest.raises(Invalid, match="policies on audit select AuditEntry ids"):
        policy_selector("audit", global_ids.encode("Account", "a-1"))


def _cost(query: str) -> int:
    preparer = DocumentPreparer(SCHEMA, QueryLimits(max_cost=0))
    errors = list(preparer.prepare(query).errors)
    return int((errors[0].extensions or {})["cost"]) if errors else 0


def test_the_audit_log_is_priced_by_its_page_size_like_every_connection() -> None:
    assert _cost("{ auditLog(first: 50) { edges { node { actor { email } } } } }") == 200
    assert _cost("{ auditLog(last: 7) { totalCount } }") == 7
    assert _cost("{ auditLog { edges { node { id relatedIds } } } }") == 3 * 20
    assert _cost("{ auditLog(first: 100000) { totalCount } }") == 100


def test_the_first_administrator_may_read_the_trail_and_a_newcomer_may_not() -> None:
    administrator = system_actor().context
    newcomer = compile_policies(NEW_USER_POLICIES)

    assert authorize(administrator, AUDIT, Permission.READ) == ReadScope.everything()
    assert authorize(newcomer, AUDIT, Permission.READ, caller="u-1").denied
    assert all(policy.resource != AUDIT for policy in NEW_USER_POLICIES)
