"""The assembled service layer: every command has a handler and every event reaches out."""

from __future__ import annotations

import logging

import pytest

from kingdom.domain import identity, ledger
from kingdom.domain.shared import Command
from kingdom.services.bootstrap import COMMAND_HANDLERS, bootstrap
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


async def test_every_committed_event_is_published_and_a_failing_publisher_breaks_nothing(caplog):
    app = FakeApp()
    await app.register("ann@example.org")
    assert len(app.publisher.published) == 1

    app.publisher.failure = RuntimeError("broker down")
    with caplog.at_level(logging.ERROR):
        bob = await app.register("bob@example.org")

    assert bob in app.store.users  # the command succeeded regardless
    assert "broker down" in caplog.text
