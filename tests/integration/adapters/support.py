"""Shared arrangements for the SQL adapter tests: a schema'd database and a real bus on it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, select

from integration.adapters.schema import create_schema
from kingdom.adapters.identity.throttle import SqlLoginThrottle
from kingdom.adapters.sql.engine import Database, Isolation, create_database
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.identity import User
from kingdom.domain.ledger import Account
from kingdom.domain.shared import Command, Event, MessageMeta
from kingdom.services.bootstrap import COMMAND_HANDLERS, bootstrap
from kingdom.services.consumers import build_consumer
from kingdom.services.fakes import (
    FakeClock,
    FakePasswordHasher,
    FakeSecretSource,
    FakeTokenIssuer,
    RecordingMailer,
    SequentialIds,
)
from kingdom.services.identity.sessions import SessionPolicy
from kingdom.services.injection import Handler
from kingdom.services.messagebus import MessageBus
from kingdom.services.meta import new_meta
from kingdom.services.ports import Mailer, ThrottlePolicy, UnitOfWork
from kingdom.services.relay import OutboxRelay
from kingdom.services.retry import RetryPolicy
from kingdom.workers.consuming import EventConsumer
from kingdom.workers.in_process import InProcessTransport


@asynccontextmanager
async def schema_database(
    url: str, isolation: Isolation = Isolation.READ_COMMITTED
) -> AsyncIterator[Database]:
    """A database at ``url`` with Kingdom's schema, disposed of afterwards."""
    database = create_database(url, isolation=isolation)
    try:
        await create_schema(database)
        yield database
    finally:
        await database.dispose()


def user_rows(
    count: int, changed: Callable[[int], Mapping[str, Any]] = lambda n: {}
) -> list[dict[str, Any]]:
    """Rows of the users table for u-0 … u-{count - 1}: active, no policies, token version n;
    ``changed(n)`` gives what a test needs otherwise."""
    return [
        {
            "id": f"u-{n}",
            "email": f"user-{n}@example.org",
            "display_name": f"User {n}",
            "status": "active",
            "password_hash": "$argon2id$secret",
            "policies": set(),
            "token_version": n,
            "version": 1,
            **changed(n),
        }
        for n in range(count)
    ]


async def outbox_rows(database: Database) -> list[RowMapping]:
    async with database.engine.connect() as connection:
        result = await connection.execute(select(outbox).order_by(outbox.c.position))
        return list(result.mappings())


async def count(database: Database, table: Any) -> int:
    async with database.engine.connect() as connection:
        return len((await connection.execute(select(table))).all())


async def _no_sleep(seconds: float) -> None:
    """Retries in tests should not wait."""


@dataclass
class SqlApp:
    """The real message bus and handlers on a SQL unit of work; fakes for everything else."""

    database: Database
    uow_factory: Callable[[], SqlUnitOfWork] | None = None
    extra_commands: Mapping[type[Command], Handler] = field(default_factory=dict)
    clock: FakeClock = field(default_factory=FakeClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    published: list[Event] = field(default_factory=list)
    """Every event the bus announced after its commit, in order."""
    mailer: RecordingMailer = field(default_factory=RecordingMailer)
    """What the workers send mail through (see :meth:`deliver_events`); requests mail nothing."""
    secrets: FakeSecretSource = field(default_factory=FakeSecretSource)
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(sleep=_no_sleep))
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    bus: MessageBus = field(init=False)
    units_of_work: list[SqlUnitOfWork] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def announced(event: Event) -> None:
            self.published.append(event)

        event_handlers: Mapping[type[Event], Iterable[Handler]] = {Event: (announced,)}
        self.bus = bootstrap(
            uow_factory=self.unit_of_work,
            dependencies={
                "clock": self.clock,
                "ids": self.ids,
                "hasher": FakePasswordHasher(),
                "tokens": FakeTokenIssuer(self.clock),
                "secrets": self.secrets,
                "throttle": SqlLoginThrottle(self.database, ThrottlePolicy()),
                "session_policy": self.session_policy,
            },
            command_handlers={**COMMAND_HANDLERS, **self.extra_commands},
            event_handlers=event_handlers,
            retry=self.retry,
        )

    def unit_of_work(self) -> SqlUnitOfWork:
        uow = self.uow_factory() if self.uow_factory else SqlUnitOfWork(self.database)
        self.units_of_work.append(uow)
        return uow

    def meta(self) -> MessageMeta:
        return new_meta(self.clock, self.ids)

    def relay_to_workers(self, mailer: Mailer | None = None) -> OutboxRelay:
        """The embedded event path: the outbox relayed to the real workers' consumer, in-process.

        The workers mail through ``mailer``, else :attr:`mailer`.
        """
        consumer = build_consumer(
            uow_factory=self.unit_of_work,
            dependencies={"clock": self.clock, "mailer": mailer or self.mailer},
            retry=self.retry,
        )
        return relay_to(self.database, consumer, self.clock)

    async def deliver_events(self, mailer: Mailer | None = None) -> int:
        """Relay the outbox to the workers until a round publishes nothing; how many went.

        A message a worker handler failed on stays in the outbox (as on the
        server, the next call offers it again).
        """
        return await drain(self.relay_to_workers(mailer))


def relay_to(database: Database, consumer: EventConsumer, clock: FakeClock) -> OutboxRelay:
    """A relay from ``database``'s outbox straight into ``consumer``, as the embedded server's."""
    return OutboxRelay(SqlOutboxFeed(database, clock), InProcessTransport(consumer), clock)


async def drain(relay: OutboxRelay) -> int:
    """Relay rounds until one publishes nothing; how many messages went."""
    published = 0
    while sent := await relay.relay_once():
        published += sent
    return published


_ANN_IDS = itertools.count(1)


def ann_meta() -> MessageMeta:
    """Metadata for the arrangements below (fixed time, fresh message ids)."""
    return MessageMeta(
        message_id=f"ann-{next(_ANN_IDS)}", occurred_at=datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    )


async def arrange_ann(unit_of_work: Callable[[], UnitOfWork], balance: int = 100) -> None:
    """User u-1 owning acc-1 (holding ``balance``; version 2, or 1 if empty) and acc-2 (empty)."""
    async with unit_of_work() as uow:
        await uow.users.add(
            User.register(
                id="u-1",
                email="ann@example.org",
                display_name="Ann",
                password_hash="h",
                meta=ann_meta(),
            )
        )
        for account_id in ("acc-1", "acc-2"):
            await uow.accounts.add(
                Account.open(id=account_id, owner_id="u-1", currency="EUR", meta=ann_meta())
            )
        await uow.commit()
    if balance:
        async with unit_of_work() as uow:
            (await uow.accounts.get("acc-1")).deposit(balance, ann_meta())
            await uow.commit()
