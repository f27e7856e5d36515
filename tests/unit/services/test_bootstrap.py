"""The assembled service layer: every command has a handler; events leave through the outbox."""

from __future__ import annotations

import pytest

from kingdom.domain import identity, ledger
from kingdom.domain.shared import Command
from kingdom.services.bootstrap import COMMAND_HANDLERS, EVENT_HANDLERS, bootstrap
from kingdom.services.fakes import FakeApp, FakeUnitOfWork, InMemoryStore
from kingdom.services.injection import DependencyError


def commands_of(module: object) -> set[type[Command]]:
    return {
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Command) and value is not Command
    }


def test_every_command_of_the_domain_has_a_handler():
    assert commands_of(identity) | commands_of(ledger) == set(COMMAND_HANDLERS)


def test_bootstrap_fails_fast_when_a_dependency_is_missing():
    with pytest.raises(DependencyError, match="'hasher'"):
        bootstrap(
            uow_factory=lambda: FakeUnitOfWork(InMemoryStore()),
            dependencies={"clock": object(), "ids": object()},
        )


async def test_committed_events_leave_through_the_outbox_only():
    # No in-process subscriber: the relay is the one way out (no event leaves twice).
    assert not EVENT_HANDLERS
    app = FakeApp()
    await app.register("ann@example.org")
    assert [type(event).__name__ for event in app.store.outbox] == ["UserRegistered"]
