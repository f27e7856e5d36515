"""The bus's contract, shown with test-local messages and a minimal unit of work."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count

import pytest

from kingdom.domain.shared import Aggregate, Command, Conflict, Event, Invalid, MessageMeta
from kingdom.services.injection import DependencyError, Handler
from kingdom.services.messagebus import MessageBus, NoHandler
from kingdom.services.ports import Change, ConcurrencyConflict, Keeper, UnitOfWork
from kingdom.services.retry import NO_RETRY, RetryPolicy

_ids = count(1)


def meta() -> MessageMeta:
    return MessageMeta(f"m-{next(_ids)}", datetime(2024, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, kw_only=True)
class Ping(Command):
    text: str = "ping"


@dataclass(frozen=True, kw_only=True)
class Unhandled(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class Pinged(Event):
    text: str


@dataclass(frozen=True, kw_only=True)
class Ponged(Event):
    text: str


class Journal(Aggregate):
    """A test aggregate that records whatever event it is given."""

    def note(self, event: Event) -> None:
        self._record(event)


class Journals(Keeper[Journal]):
    """A repository of journals that never changes state: only their events count."""

    def changed(self, record: Journal) -> bool:
        return False

    def stored(self, record: Journal) -> None:
        pass


class StubUnitOfWork(UnitOfWork):
    """Just enough of a unit of work: one aggregate, commit and rollback counted."""

    def __init__(self, fail_commits: int = 0) -> None:
        super().__init__()
        self.journal = Journal("journal")
        Journals(self.tracker)._track(self.journal)
        self.commits = 0
        self.rollbacks = 0
        self.fail_commits = fail_commits

    async def _commit(self, changes: Sequence[Change]) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise ConcurrencyConflict("lost the race")
        self.commits += 1

    async def _rollback(self) -> None:
        self.rollbacks += 1


class Factory:
    """Makes (and keeps) one unit of work per call, as the composition root would."""

    def __init__(self) -> None:
        self.made: list[StubUnitOfWork] = []

    def __call__(self) -> StubUnitOfWork:
        uow = StubUnitOfWork()
        self.made.append(uow)
        return uow


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_bus(
    commands: dict[type[Command], Handler] | None = None,
    events: dict[type[Event], list[Handler]] | None = None,
    dependencies: dict[str, object] | None = None,
    factory: Factory | None = None,
    retry: RetryPolicy | None = None,
) -> MessageBus:
    return MessageBus(
        uow_factory=factory or Factory(),
        command_handlers=commands or {},
        event_handlers=events or {},
        dependencies=dependencies or {},
        retry=retry or RetryPolicy(sleep=Sleeps(), random=lambda: 0.5),
    )


# --- commands -------------------------------------------------------------------------


async def test_a_command_returns_its_handlers_result_with_dependencies_injected_by_name():
    async def ping(command: Ping, greeting: str, punctuation: str) -> str:
        return f"{greeting} {command.text}{punctuation}"

    bus = make_bus({Ping: ping}, dependencies={"greeting": "hello", "punctuation": "!", "x": 1})

    assert await bus.handle(Ping(meta=meta(), text="world")) == "hello world!"


async def test_a_commands_failure_propagates_and_its_changes_are_rolled_back():
    factory = Factory()

    async def failing(command: Ping, uow: UnitOfWork) -> None:
        async with uow:
            raise Invalid("no")

    bus = make_bus({Ping: failing}, factory=factory)

    with pytest.raises(Invalid, match="no"):
        await bus.handle(Ping(meta=meta()))
    assert (factory.made[0].commits, factory.made[0].rollbacks) == (0, 1)


async def test_a_command_without_handler_is_a_wiring_error():
    with pytest.raises(NoHandler, match="Unhandled"):
        await make_bus().handle(Unhandled(meta=meta()))


async def test_anything_but_a_command_or_an_event_is_refused():
    with pytest.raises(TypeError):
        await make_bus().handle(object())  # type: ignore[arg-type]


async def test_each_handler_invocation_gets_its_own_unit_of_work():
    factory = Factory()
    seen: list[UnitOfWork] = []

    async def ping(command: Ping, uow: UnitOfWork) -> None:
        seen.append(uow)
        async with uow:
            assert isinstance(uow, StubUnitOfWork)
            uow.journal.note(Pinged(meta=meta(), text=command.text))
            await uow.commit()

    async def first(event: Pinged, uow: UnitOfWork) -> None:
        seen.append(uow)

    async def second(event: Pinged, uow: UnitOfWork) -> None:
        seen.append(uow)

    async def no_uow(event: Pinged) -> None:
        pass

    bus = make_bus({Ping: ping}, {Pinged: [first, second, no_uow]}, factory=factory)
    await bus.handle(Ping(meta=meta()))

    assert seen == factory.made
    assert len({id(uow) for uow in seen}) == 3


# --- events ---------------------------------------------------------------------------


async def test_an_event_reaches_every_handler_even_when_one_fails(caplog):
    received: list[str] = []

    async def broken(event: Pinged) -> None:
        raise RuntimeError("boom")

    async def working(event: Pinged) -> None:
        received.append(event.text)

    bus = make_bus(events={Pinged: [broken, working]})
    with caplog.at_level(logging.ERROR, logger="kingdom.services.messagebus"):
        result = await bus.handle(Pinged(meta=meta(), text="hi"))

    assert result is None
    assert received == ["hi"]
    assert "broken" in caplog.text
    assert "boom" in caplog.text


async def test_an_event_without_handlers_is_fine():
    await make_bus().handle(Pinged(meta=meta(), text="nobody listens"))


async def test_committed_events_cascade_until_none_are_left_before_handle_returns():
    order: list[str] = []

    async def ping(command: Ping, uow: StubUnitOfWork) -> str:
        async with uow:
            uow.journal.note(Pinged(meta=meta(), text="1"))
            await uow.commit()
        order.append("command")
        return "done"

    async def on_pinged(event: Pinged, uow: StubUnitOfWork) -> None:
        order.append(f"pinged {event.text}")
        async with uow:
            uow.journal.note(Ponged(meta=meta(), text="2"))
            await uow.commit()

    async def on_ponged(event: Ponged) -> None:
        order.append(f"ponged {event.text}")

    bus = make_bus({Ping: ping}, {Pinged: [on_pinged], Ponged: [on_ponged]})

    assert await bus.handle(Ping(meta=meta())) == "done"
    assert order == ["command", "pinged 1", "ponged 2"]


async def test_uncommitted_events_are_never_announced():
    announced: list[Event] = []

    async def ping(command: Ping, uow: StubUnitOfWork) -> None:
        async with uow:
            uow.journal.note(Pinged(meta=meta(), text="rolled back"))
            raise Conflict("changed my mind")

    async def listen(event: Pinged) -> None:
        announced.append(event)

    bus = make_bus({Ping: ping}, {Pinged: [listen]})
    with pytest.raises(Conflict):
        await bus.handle(Ping(meta=meta()))
    assert announced == []


async def test_events_committed_before_a_failure_are_still_handled_then_the_error_surfaces():
    announced: list[str] = []

    async def ping(command: Ping, uow: StubUnitOfWork) -> None:
        async with uow:
            uow.journal.note(Pinged(meta=meta(), text="committed"))
            await uow.commit()
        raise RuntimeError("the mail server is down")

    async def listen(event: Pinged) -> None:
        announced.append(event.text)

    bus = make_bus({Ping: ping}, {Pinged: [listen]})
    with pytest.raises(RuntimeError, match="mail server"):
        await bus.handle(Ping(meta=meta()))
    assert announced == ["committed"]


async def test_a_handler_subscribed_to_a_base_class_gets_every_subclass():
    received: list[type[Event]] = []

    async def everything(event: Event) -> None:
        received.append(type(event))

    bus = make_bus(events={Event: [everything]})
    await bus.handle(Pinged(meta=meta(), text="a"))
    await bus.handle(Ponged(meta=meta(), text="b"))

    assert received == [Pinged, Ponged]


# --- retries --------------------------------------------------------------------------


async def test_a_concurrency_conflict_is_retried_on_a_fresh_unit_of_work_with_backoff():
    factory = Factory()
    sleeps = Sleeps()
    calls = 0

    async def flaky(command: Ping, uow: UnitOfWork) -> str:
        nonlocal calls
        calls += 1
        async with uow:
            if calls < 3:
                raise ConcurrencyConflict("stale")
            await uow.commit()
        return "finally"

    retry = RetryPolicy(
        attempts=4, base_delay=0.01, max_delay=1.0, sleep=sleeps, random=lambda: 0.5
    )
    bus = make_bus({Ping: flaky}, factory=factory, retry=retry)

    assert await bus.handle(Ping(meta=meta())) == "finally"
    assert calls == 3
    assert len(factory.made) == 3
    # Full jitter: half (random() == 0.5) of 0.01, then of 0.02.
    assert sleeps.delays == pytest.approx([0.005, 0.01])


async def test_a_conflict_that_persists_surfaces_after_the_last_attempt():
    sleeps = Sleeps()
    calls = 0

    async def hopeless(command: Ping) -> None:
        nonlocal calls
        calls += 1
        raise ConcurrencyConflict("always stale")

    retry = RetryPolicy(attempts=3, sleep=sleeps, random=lambda: 1.0)
    bus = make_bus({Ping: hopeless}, retry=retry)

    with pytest.raises(ConcurrencyConflict, match="always stale"):
        await bus.handle(Ping(meta=meta()))
    assert calls == 3
    assert len(sleeps.delays) == 2


async def test_a_conflict_raised_by_commit_is_retried_too():
    made: list[StubUnitOfWork] = []

    def factory() -> StubUnitOfWork:
        uow = StubUnitOfWork(fail_commits=1 if not made else 0)
        made.append(uow)
        return uow

    async def ping(command: Ping, uow: UnitOfWork) -> None:
        async with uow:
            await uow.commit()

    bus = MessageBus(
        uow_factory=factory,
        command_handlers={Ping: ping},
        event_handlers={},
        dependencies={},
        retry=RetryPolicy(sleep=Sleeps()),
    )
    await bus.handle(Ping(meta=meta()))
    assert [uow.commits for uow in made] == [0, 1]


async def test_other_errors_are_not_retried():
    calls = 0

    async def refused(command: Ping) -> None:
        nonlocal calls
        calls += 1
        raise Conflict("a plain conflict is not transient")

    with pytest.raises(Conflict):
        await make_bus({Ping: refused}).handle(Ping(meta=meta()))
    assert calls == 1


async def test_without_retries_the_first_conflict_surfaces():
    async def stale(command: Ping) -> None:
        raise ConcurrencyConflict("stale")

    with pytest.raises(ConcurrencyConflict):
        await make_bus({Ping: stale}, retry=NO_RETRY).handle(Ping(meta=meta()))


async def test_an_event_handler_that_loses_a_race_is_retried_as_well():
    calls = 0

    async def flaky(event: Pinged) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConcurrencyConflict("stale")

    await make_bus(events={Pinged: [flaky]}).handle(Pinged(meta=meta(), text="x"))
    assert calls == 2


# --- dependency injection -------------------------------------------------------------


def test_an_unknown_dependency_name_fails_at_construction_naming_it():
    async def needy(command: Ping, mailer: object) -> None:
        pass

    with pytest.raises(DependencyError, match="'mailer'"):
        make_bus({Ping: needy}, dependencies={"clock": object()})


def test_an_unknown_dependency_of_an_event_handler_fails_at_construction_too():
    async def needy(event: Pinged, publisher: object) -> None:
        pass

    with pytest.raises(DependencyError, match="'publisher'"):
        make_bus(events={Pinged: [needy]})


async def test_a_dependency_with_a_default_may_be_left_out_or_overridden():
    async def tunable(command: Ping, suffix: str = "?") -> str:
        return command.text + suffix

    assert await make_bus({Ping: tunable}).handle(Ping(meta=meta())) == "ping?"
    bus = make_bus({Ping: tunable}, dependencies={"suffix": "!"})
    assert await bus.handle(Ping(meta=meta())) == "ping!"


async def test_signatures_are_inspected_once_when_the_bus_is_built(monkeypatch):
    async def ping(command: Ping, greeting: str) -> str:
        return greeting

    inspected = 0
    real = inspect.signature

    def counting(obj, *args, **kwargs):
        nonlocal inspected
        inspected += obj is ping
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)

    bus = make_bus({Ping: ping}, dependencies={"greeting": "hi"})
    for _ in range(3):
        assert await bus.handle(Ping(meta=meta())) == "hi"
    assert inspected == 1
