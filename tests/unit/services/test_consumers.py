"""The idempotent consumer and the audit trail, on the in-memory fakes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

import pytest

from kingdom.adapters.sql.event_codec import EVENTS
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import events as identity
from kingdom.domain.ledger import events as ledger
from kingdom.domain.shared import Event, MessageMeta
from kingdom.services.audit import (
    AUDITED,
    HANDLERS,
    Audited,
    NotAudited,
    audit_entry,
    record_audit,
)
from kingdom.services.audit.entries import MAX_SUMMARY_LENGTH
from kingdom.services.causation import caused_by
from kingdom.services.consumers import (
    WORKER_HANDLERS,
    Consumer,
    HandlersFailed,
    build_consumer,
)
from kingdom.services.fakes import FakeClock, FakeUnitOfWork, InMemoryStore, RecordingMailer
from kingdom.services.injection import DependencyError, Handler
from kingdom.services.mail import send_mail
from kingdom.services.ports import AuditEntry, ConcurrencyConflict, UnitOfWork
from kingdom.services.retry import NO_RETRY, RetryPolicy

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def meta() -> MessageMeta:
    return MessageMeta(message_id=f"m-{next(_ids)}", occurred_at=NOW)


@dataclass(frozen=True, kw_only=True)
class Pinged(Event):
    text: str = "ping"


@dataclass(frozen=True, kw_only=True)
class LoudlyPinged(Pinged):
    pass


async def _no_sleep(seconds: float) -> None:
    """Retries in tests should not wait."""


@dataclass
class World:
    """A store, a clock, and a record of which handler ran on which message."""

    store: InMemoryStore
    clock: FakeClock
    runs: list[tuple[str, str]]
    failing: set[str]

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def consumer(
        self,
        handlers: dict[type[Event], tuple[Handler, ...]],
        retry: RetryPolicy | None = None,
    ) -> Consumer:
        return Consumer(
            uow_factory=self.uow,
            handlers=handlers,
            dependencies={"clock": self.clock, "runs": self.runs, "failing": self.failing},
            retry=retry or RetryPolicy(sleep=_no_sleep),
        )


@pytest.fixture()
def world() -> World:
    return World(InMemoryStore(), FakeClock(NOW), [], set())


def note(name: str, event: Event) -> AuditEntry:
    """A hand-made audit entry: what the test handlers below write."""
    return AuditEntry(
        message_id=f"{event.message_id}/{name}",
        event_type="test.Pinged",
        occurred_at=event.occurred_at,
        recorded_at=event.occurred_at,
        subject_type="test",
        subject_id=name,
        summary=f"{name} saw {event.message_id}",
    )


async def first(event: Event, uow: UnitOfWork, runs: list[tuple[str, str]]) -> None:
    runs.append(("first", event.message_id))
    async with uow:
        uow.audit.add(note("first", event))
        await uow.commit()


async def second(event: Event, uow: UnitOfWork, runs: list[tuple[str, str]]) -> None:
    runs.append(("second", event.message_id))
    async with uow:
        uow.audit.add(note("second", event))
        await uow.commit()


async def flaky(
    event: Event, uow: UnitOfWork, runs: list[tuple[str, str]], failing: set[str]
) -> None:
    """Writes, then fails before committing while ``"flaky"`` is in ``failing``."""
    runs.append(("flaky", event.message_id))
    async with uow:
        uow.audit.add(note("flaky", event))
        if "flaky" in failing:
            raise RuntimeError("flaky handler failed")
        await uow.commit()


def _name(handler: Callable[..., object]) -> str:
    return f"{__name__}.{handler.__qualname__}"


# The consumer.


async def test_a_redelivery_is_skipped(world: World) -> None:
    consumer = world.consumer({Pinged: (first,)})
    event = Pinged(meta=meta())

    for _delivery in range(3):
        await consumer.consume(event)

    assert world.runs == [("first", event.message_id)]
    assert list(world.store.audit) == [f"{event.message_id}/first"]
    (entry,) = world.store.inbox.values()
    assert (entry.message_id, entry.handler, entry.processed_at) == (
        event.message_id,
        _name(first),
        NOW,
    )


async def test_concurrent_deliveries_run_the_handler_once(world: World) -> None:
    consumer = world.consumer({Pinged: (first, second)})
    events = [Pinged(meta=meta()) for _ in range(10)]

    await asyncio.gather(*(consumer.consume(event) for event in events for _ in range(3)))

    assert len(world.store.audit) == 20
    assert len(world.store.inbox) == 20
    assert sorted(world.runs) == sorted(
        (name, event.message_id) for event in events for name in ("first", "second")
    )


async def test_the_loser_of_a_race_retries_and_finds_the_winners_entry(world: World) -> None:
    # Both deliveries look into the inbox before either commits; the second
    # commit clashes on the inbox key and its retry sees the first one's entry.
    arrived = asyncio.Barrier(2)

    async def slow(event: Event, uow: UnitOfWork, runs: list[tuple[str, str]]) -> None:
        runs.append(("slow", event.message_id))
        async with uow:
            uow.audit.add(note("slow", event))
            await arrived.wait()
            await uow.commit()

    consumer = world.consumer({Pinged: (slow,)})
    event = Pinged(meta=meta())

    await asyncio.gather(consumer.consume(event), consumer.consume(event))

    assert len(world.runs) == 2  # both ran; one committed
    assert list(world.store.audit) == [f"{event.message_id}/slow"]
    assert len(world.store.inbox) == 1


async def test_a_failing_handler_fails_the_message_while_the_others_run(world: World) -> None:
    world.failing.add("flaky")
    consumer = world.consumer({Pinged: (first, flaky, second)})
    event = Pinged(meta=meta())

    with pytest.raises(HandlersFailed) as raised:
        await consumer.consume(event)

    assert raised.value.message_id == event.message_id
    assert list(raised.value.failures) == [_name(flaky)]
    assert _name(flaky) in str(raised.value)
    assert isinstance(raised.value.failures[_name(flaky)], RuntimeError)
    # What the failing handler wrote was rolled back with its inbox entry.
    assert sorted(world.store.audit) == [f"{event.message_id}/first", f"{event.message_id}/second"]
    assert {handler for _message, handler in world.store.inbox} == {_name(first), _name(second)}

    world.failing.clear()
    world.runs.clear()
    await consumer.consume(event)  # the redelivery

    assert world.runs == [("flaky", event.message_id)]
    assert len(world.store.audit) == 3
    assert len(world.store.inbox) == 3


async def test_conflicts_are_retried_then_reported(world: World) -> None:
    event = Pinged(meta=meta())
    world.store.conflicts_to_raise = 2
    await world.consumer({Pinged: (first,)}).consume(event)
    assert len(world.store.inbox) == 1
    assert world.runs == [("first", event.message_id)] * 3

    world.store.conflicts_to_raise = 1
    other = Pinged(meta=meta())
    with pytest.raises(HandlersFailed) as raised:
        await world.consumer({Pinged: (first,)}, retry=NO_RETRY).consume(other)
    assert isinstance(raised.value.failures[_name(first)], ConcurrencyConflict)
    assert len(world.store.inbox) == 1


async def test_a_handler_that_commits_nothing_leaves_no_inbox_entry(world: World) -> None:
    async def idle(event: Event, uow: UnitOfWork, runs: list[tuple[str, str]]) -> None:
        runs.append(("idle", event.message_id))

    consumer = world.consumer({Pinged: (idle,)})
    event = Pinged(meta=meta())
    await consumer.consume(event)
    await consumer.consume(event)

    assert world.store.inbox == {}
    assert world.runs == [("idle", event.message_id)] * 2  # nothing to repeat, so it may


async def test_handlers_are_found_along_the_event_class_hierarchy(world: World) -> None:
    consumer = world.consumer({Event: (first,), Pinged: (second, first)})
    assert consumer.subscribers(LoudlyPinged) == (_name(second), _name(first))
    assert consumer.subscribers(identity.UserDisabled) == (_name(first),)

    event = LoudlyPinged(meta=meta())
    await consumer.consume(event)
    assert world.runs == [("second", event.message_id), ("first", event.message_id)]


async def test_an_event_nobody_subscribes_to_is_consumed_as_a_no_op(world: World) -> None:
    await world.consumer({LoudlyPinged: (first,)}).consume(Pinged(meta=meta()))
    assert world.runs == []
    assert world.store.commits == 0


def test_wiring_mistakes_fail_when_the_consumer_is_built(world: World) -> None:
    async def no_uow(event: Event, runs: list[tuple[str, str]]) -> None:
        pass

    async def unknown(event: Event, uow: UnitOfWork, mailer: object) -> None:
        pass

    with pytest.raises(DependencyError, match="uow"):
        world.consumer({Pinged: (no_uow,)})
    with pytest.raises(DependencyError, match="mailer"):
        world.consumer({Pinged: (unknown,)})
    with pytest.raises(DependencyError, match="clock"):
        Consumer(uow_factory=world.uow, handlers={}, dependencies={})
    with pytest.raises(DependencyError, match="trace_parent"):
        Consumer(
            uow_factory=world.uow,
            handlers={},
            dependencies={"clock": world.clock, "trace_parent": "x"},
        )


# The audit trail as the workers write it.


def audit_consumer(world: World) -> Consumer:
    return build_consumer(
        uow_factory=world.uow,
        dependencies={"clock": world.clock, "mailer": RecordingMailer()},
        retry=RetryPolicy(sleep=_no_sleep),
    )


async def test_the_audit_handler_records_each_event_once(world: World) -> None:
    consumer = audit_consumer(world)
    event = ledger.TransferCompleted(
        meta=meta(),
        transfer_id="t-1",
        source_id="acc-1",
        target_id="acc-2",
        amount=250,
        currency="EUR",
    )
    world.clock.advance(timedelta(seconds=5))
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    # Who and which request: what a worker sets from the message it consumes.
    with caused_by("u-7", "req-7"):
        await consumer.consume(event, trace_parent=trace)
    await consumer.consume(event)

    assert world.store.audit == {
        event.message_id: AuditEntry(
            message_id=event.message_id,
            event_type="ledger.TransferCompleted",
            occurred_at=NOW,
            recorded_at=NOW + timedelta(seconds=5),
            subject_type="account",
            subject_id="acc-1",
            summary="transferred 250 from acc-1 to acc-2 (EUR)",
            actor_id="u-7",
            related_ids=("acc-2", "t-1"),
            trace_parent=trace,
            request_id="req-7",
        )
    }
    assert list(world.store.inbox) == [
        (event.message_id, "kingdom.services.audit.handlers.record_audit")
    ]


async def test_the_audit_handler_does_not_repeat_an_entry_whose_inbox_entry_is_gone(
    world: World,
) -> None:
    consumer = audit_consumer(world)
    event = ledger.AccountClosed(meta=meta(), account_id="acc-1")
    await consumer.consume(event)
    async with world.uow() as uow:
        assert await uow.inbox.prune(NOW + timedelta(seconds=1)) == 1
        await uow.commit()

    await consumer.consume(event)  # a very late redelivery

    assert list(world.store.audit) == [event.message_id]
    assert len(world.store.inbox) == 1


NOT_AUDITED: frozenset[type[Event]] = frozenset({identity.RegistrationAttemptedOnTakenAddress})
"""Stored events the trail leaves out on purpose, each for a reason.

An attempt to register a taken address changes nothing: no user, no grant.
It is committed only so that its owner's notice goes out (the mail worker
subscribes to it); the trail records changes. Naming it here keeps the test
below failing for any other event left out by mistake.
"""


def test_every_stored_event_is_audited_under_the_codecs_name() -> None:
    stored = {schema.cls: schema.name for schema in EVENTS.schemas}
    assert set(stored) >= NOT_AUDITED
    assert {cls: audited.name for cls, audited in AUDITED.items()} == {
        cls: name for cls, name in stored.items() if cls not in NOT_AUDITED
    }
    assert set(WORKER_HANDLERS) == set(stored)  # every stored event has a worker handler
    assert all(handlers == (record_audit,) for handlers in HANDLERS.values())


def test_registration_events_are_mailed_and_the_registration_audited_too() -> None:
    assert WORKER_HANDLERS[identity.UserRegistered] == (record_audit, send_mail)
    assert WORKER_HANDLERS[identity.RegistrationAttemptedOnTakenAddress] == (send_mail,)
    assert WORKER_HANDLERS[identity.PasswordResetRequested] == (record_audit, send_mail)


POLICY = Policy.of("accounts", Permission.READ | Permission.UPDATE)
OWN_USER = Policy.of("users", Permission.READ, "@own")
SUMMARIES: list[tuple[Event, tuple[str, str, tuple[str, ...]], str]] = [
    (
        identity.UserRegistered(
            meta=meta(),
            user_id="u-1",
            email="ann@example.org",
            display_name="Ann",
            policies=(OWN_USER,),
        ),
        ("user", "u-1", ()),
        "registered user u-1 <ann@example.org> with users:read on @own",
    ),
    (
        identity.PasswordChanged(meta=meta(), user_id="u-1", token_version=3),
        ("user", "u-1", ()),
        "changed the password of user u-1; tokens before version 3 are void",
    ),
    (
        identity.PasswordResetRequested(
            meta=meta(),
            user_id="u-1",
            token_id="rt-secretive-1",
            expires_at=datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        ),
        ("user", "u-1", ()),
        "requested a password reset for user u-1; the code expires 2024-03-01 09:30 UTC",
    ),
    (
        identity.RefreshTokenReuseDetected(meta=meta(), user_id="u-1", session_id="s-1"),
        ("user", "u-1", ("s-1",)),
        "a rotated refresh token of user u-1 came back; its session s-1 was revoked",
    ),
    (
        identity.RoleCreated(
            meta=meta(), role_code="tellers", name="Tellers", policies=(POLICY, OWN_USER)
        ),
        ("role", "tellers", ()),
        "created role tellers (Tellers) with accounts:read+update on *; users:read on @own",
    ),
    (
        identity.PoliciesAttached(
            meta=meta(), subject="role", subject_id="tellers", policies=(POLICY,)
        ),
        ("role", "tellers", ()),
        "attached accounts:read+update on * to role tellers",
    ),
    (
        identity.PoliciesDetached(
            meta=meta(), subject="user", subject_id="u-1", policies=(POLICY,)
        ),
        ("user", "u-1", ()),
        "detached accounts:read+update on * from user u-1",
    ),
    (
        identity.RoleAssigned(meta=meta(), user_id="u-1", role_code="tellers"),
        ("user", "u-1", ("tellers",)),
        "assigned role tellers to user u-1",
    ),
    (
        identity.RoleRevoked(meta=meta(), user_id="u-1", role_code="tellers"),
        ("user", "u-1", ("tellers",)),
        "revoked role tellers from user u-1",
    ),
    (
        identity.UserDisabled(meta=meta(), user_id="u-1", token_version=4),
        ("user", "u-1", ()),
        "disabled user u-1",
    ),
    (
        ledger.AccountOpened(meta=meta(), account_id="acc-1", owner_id="u-1", currency="EUR"),
        ("account", "acc-1", ("u-1",)),
        "opened account acc-1 in EUR for user u-1",
    ),
    (
        ledger.FundsDeposited(meta=meta(), account_id="acc-1", amount=250, balance=1000),
        ("account", "acc-1", ()),
        "deposited 250 into acc-1; balance 1000",
    ),
    (
        ledger.FundsWithdrawn(meta=meta(), account_id="acc-1", amount=250, balance=750),
        ("account", "acc-1", ()),
        "withdrew 250 from acc-1; balance 750",
    ),
    (
        ledger.TransferCompleted(
            meta=meta(),
            transfer_id="t-1",
            source_id="acc-1",
            target_id="acc-2",
            amount=250,
            currency="EUR",
        ),
        ("account", "acc-1", ("acc-2", "t-1")),
        "transferred 250 from acc-1 to acc-2 (EUR)",
    ),
    (
        ledger.AccountClosed(meta=meta(), account_id="acc-1"),
        ("account", "acc-1", ()),
        "closed account acc-1",
    ),
]


def test_the_summaries_cover_every_audited_event() -> None:
    assert {type(event) for event, _subject, _summary in SUMMARIES} == set(AUDITED)


@pytest.mark.parametrize(
    ("event", "subject", "summary"),
    SUMMARIES,
    ids=[type(event).__name__ for event, _subject, _summary in SUMMARIES],
)
def test_each_event_type_is_summarised(
    event: Event, subject: tuple[str, str, tuple[str, ...]], summary: str
) -> None:
    entry = audit_entry(event, recorded_at=NOW)
    assert (entry.subject_type, entry.subject_id, entry.related_ids) == subject
    assert entry.summary == summary
    assert (entry.message_id, entry.occurred_at, entry.recorded_at) == (
        event.message_id,
        event.occurred_at,
        NOW,
    )
    assert entry.actor_id is None  # no event names who acted (yet)
    assert entry.trace_parent is None
    assert entry.request_id is None


@pytest.mark.parametrize("event", [event for event, _subject, _summary in SUMMARIES])
def test_no_token_is_ever_written_into_an_entry(event: Event) -> None:
    # Token ids, versions and anything named like a secret stay out of the text.
    entry = audit_entry(event, recorded_at=NOW)
    for field in fields(event):
        if "token" in field.name or "hash" in field.name or "secret" in field.name:
            value = str(getattr(event, field.name))
            assert value not in entry.related_ids
            if field.name != "token_version":  # a counter, said on purpose
                assert value not in entry.summary


@dataclass(frozen=True, kw_only=True)
class ClosedBy(ledger.AccountClosed):
    actor_id: str


def test_an_event_that_names_its_actor_records_it() -> None:
    event = ClosedBy(meta=meta(), account_id="acc-1", actor_id="u-9")
    with pytest.raises(NotAudited):  # a subclass is not described as its base
        audit_entry(event, recorded_at=NOW)

    table: dict[type[Event], Audited] = {
        ClosedBy: Audited("test.ClosedBy", AUDITED[ledger.AccountClosed].describe)
    }
    entry = audit_entry(event, recorded_at=NOW, table=table)
    assert (entry.event_type, entry.actor_id, entry.summary) == (
        "test.ClosedBy",
        "u-9",
        "closed account acc-1",
    )


def test_long_summaries_are_shortened_and_bogus_trace_parents_dropped() -> None:
    many = tuple(Policy.of("accounts", Permission.READ, f"acc-{n:04d}") for n in range(40))
    event = identity.PoliciesAttached(meta=meta(), subject="role", subject_id="r", policies=many)

    entry = audit_entry(event, recorded_at=NOW, trace_parent="x" * 500)

    assert len(entry.summary) == MAX_SUMMARY_LENGTH
    assert entry.summary.endswith("…")
    assert entry.trace_parent is None


@pytest.mark.parametrize(
    ("request_id", "kept"),
    [
        ("req-1.A_b", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("bad id", False),
        ("req\r\nBcc: x@example.org", False),
        ("", False),
        (None, False),
    ],
)
def test_only_a_request_id_the_server_could_have_given_is_recorded(
    request_id: str | None, kept: bool
) -> None:
    event = ledger.AccountClosed(meta=meta(), account_id="acc-1")

    entry = audit_entry(event, recorded_at=NOW, request_id=request_id)

    assert entry.request_id == (request_id if kept else None)
