"""The outbox's event codec: explicit names and versions, JSON only, every event covered."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kingdom.adapters.sql.event_codec import (
    EVENTS,
    EventCodec,
    EventCodecError,
    EventSchema,
    UnknownEvent,
    decode,
    encode,
)
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import events as identity
from kingdom.domain.ledger import events as ledger
from kingdom.domain.shared import Event, MessageMeta

WHEN = datetime(2024, 5, 17, 12, 30, 15, 123456, tzinfo=UTC)
META = MessageMeta(message_id="msg-1", occurred_at=WHEN)
POLICIES = (
    Policy.of("accounts", Permission.READ | Permission.UPDATE, "acc-2", "acc-1"),
    Policy.of("users", Permission.ALL),
)

EXAMPLES: list[Event] = [
    identity.UserRegistered(
        meta=META, user_id="u-1", email="ann@example.org", display_name="Ann", policies=POLICIES
    ),
    identity.PasswordChanged(meta=META, user_id="u-1", token_version=3),
    identity.PasswordResetRequested(
        meta=META,
        user_id="u-1",
        token_id="t-1",
        expires_at=datetime(2024, 5, 17, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    ),
    identity.RoleCreated(meta=META, role_code="auditor", name="Auditor", policies=POLICIES),
    identity.PoliciesAttached(meta=META, subject="user", subject_id="u-1", policies=POLICIES),
    identity.PoliciesDetached(meta=META, subject="role", subject_id="auditor", policies=POLICIES),
    identity.RoleAssigned(meta=META, user_id="u-1", role_code="auditor"),
    identity.RoleRevoked(meta=META, user_id="u-1", role_code="auditor"),
    identity.UserDisabled(meta=META, user_id="u-1", token_version=4),
    identity.RefreshTokenReuseDetected(meta=META, user_id="u-1", session_id="s-1"),
    identity.RegistrationAttemptedOnTakenAddress(meta=META, user_id="u-1"),
    ledger.AccountOpened(meta=META, account_id="a-1", owner_id="u-1", currency="EUR"),
    ledger.FundsDeposited(meta=META, account_id="a-1", amount=2**63 - 1, balance=2**63 - 1),
    ledger.FundsWithdrawn(meta=META, account_id="a-1", amount=5, balance=0),
    ledger.TransferCompleted(
        meta=META, transfer_id="t-1", source_id="a-1", target_id="a-2", amount=7, currency="EUR"
    ),
    ledger.AccountClosed(meta=META, account_id="a-1"),
]


def _event_classes() -> set[type[Event]]:
    return {
        cls
        for module in (identity, ledger)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Event) and cls is not Event and cls.__module__ == module.__name__
    }


def test_every_domain_event_is_registered_and_has_an_example() -> None:
    registered = {schema.cls for schema in EVENTS.schemas}
    assert registered == _event_classes()
    assert {type(event) for event in EXAMPLES} == _event_classes()


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: type(event).__name__)
def test_every_event_round_trips_through_json(event: Event) -> None:
    event_type, version, payload = encode(event)
    stored = json.loads(json.dumps(payload))  # what a JSON column gives back

    assert decode(event_type, version, stored) == event
    # UserRegistered gained the new user's policies in version 2.
    assert version == (2 if isinstance(event, identity.UserRegistered) else 1)


def test_a_version_1_registration_decodes_as_one_without_policies() -> None:
    stored = {
        "meta": {"message_id": "msg-1", "occurred_at": "2024-05-17T12:30:15.123456+00:00"},
        "user_id": "u-1",
        "email": "ann@example.org",
        "display_name": "Ann",
    }
    assert decode("identity.UserRegistered", 1, stored) == identity.UserRegistered(
        meta=META, user_id="u-1", email="ann@example.org", display_name="Ann"
    )


def test_payloads_are_plain_explicit_json() -> None:
    event_type, version, payload = encode(EXAMPLES[3])

    assert (event_type, version) == ("identity.RoleCreated", 1)
    assert payload == {
        "meta": {"message_id": "msg-1", "occurred_at": "2024-05-17T12:30:15.123456+00:00"},
        "role_code": "auditor",
        "name": "Auditor",
        "policies": [
            {"resource": "accounts", "permissions": 5, "selectors": ["acc-1", "acc-2"]},
            {"resource": "users", "permissions": 15, "selectors": ["*"]},
        ],
    }


def test_datetimes_keep_their_instant_and_offset() -> None:
    event = EXAMPLES[2]
    _, _, payload = encode(event)
    assert payload["expires_at"] == "2024-05-17T14:00:00+02:00"
    decoded = decode("identity.PasswordResetRequested", 1, payload)
    assert isinstance(decoded, identity.PasswordResetRequested)
    assert decoded.expires_at == event.expires_at  # type: ignore[attr-defined]


def test_unknown_types_and_versions_are_refused_by_name() -> None:
    _, _, payload = encode(EXAMPLES[0])
    with pytest.raises(UnknownEvent, match="unknown event type 'identity.Nope'"):
        decode("identity.Nope", 1, payload)
    with pytest.raises(UnknownEvent, match="no schema version 3"):
        decode("identity.UserRegistered", 3, payload)
    with pytest.raises(UnknownEvent, match="no schema version 0"):
        decode("identity.UserRegistered", 0, payload)


def test_an_unregistered_event_class_cannot_be_encoded() -> None:
    codec = EventCodec([EventSchema("ledger.AccountClosed", ledger.AccountClosed)])
    with pytest.raises(UnknownEvent, match="UserRegistered"):
        codec.encode(EXAMPLES[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: {k: v for k, v in p.items() if k != "amount"}, "expected fields"),
        (lambda p: {**p, "extra": 1}, "expected fields"),
        (lambda p: {**p, "amount": "7"}, "expected int"),
        (lambda p: {**p, "amount": True}, "expected int"),
        (lambda p: {**p, "meta": {"message_id": "m"}}, "message_id, occurred_at"),
        (
            lambda p: {**p, "meta": {"message_id": "m", "occurred_at": "2024-01-01T00:00:00"}},
            "no offset",
        ),
    ],
)
def test_malformed_payloads_are_refused(change: Any, message: str) -> None:
    event_type, version, payload = encode(EXAMPLES[12])
    with pytest.raises(EventCodecError, match=message):
        decode(event_type, version, change(payload))


def test_invalid_policies_and_subjects_are_refused() -> None:
    event_type, version, payload = encode(EXAMPLES[4])
    with pytest.raises(EventCodecError, match="not one of"):
        decode(event_type, version, {**payload, "subject": "group"})
    bad = {**payload, "policies": [{"resource": "users", "permissions": 99, "selectors": ["*"]}]}
    with pytest.raises(EventCodecError):
        decode(event_type, version, bad)


def test_old_payload_versions_are_upcast() -> None:
    def v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
        # Say version 1 called the field "account" instead of "account_id".
        upgraded = dict(payload)
        upgraded["account_id"] = upgraded.pop("account")
        return upgraded

    codec = EventCodec(
        [EventSchema("ledger.AccountClosed", ledger.AccountClosed, 2, {1: v1_to_v2})]
    )
    event = ledger.AccountClosed(meta=META, account_id="a-1")
    _, version, payload = codec.encode(event)
    old = {"meta": payload["meta"], "account": "a-1"}

    assert version == 2
    assert codec.decode("ledger.AccountClosed", 1, old) == event
    assert codec.decode("ledger.AccountClosed", 2, payload) == event


def test_a_schema_version_without_its_upcasters_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks upcasters"):
        EventCodec([EventSchema("ledger.AccountClosed", ledger.AccountClosed, 3, {1: dict})])
