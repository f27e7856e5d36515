"""The GraphQL app in-process on the real SQL stack, and a client that speaks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from starlette.types import ASGIApp

from integration.adapters.paging import recording_statements
from integration.adapters.support import drain, relay_to, schema_database
from kingdom.adapters.identity.queries import SqlRoleQueries, SqlUserQueries
from kingdom.adapters.identity.throttle import SqlLoginThrottle
from kingdom.adapters.identity.token_states import SqlTokenStates
from kingdom.adapters.ledger.queries import SqlAccountQueries, SqlTransferQueries
from kingdom.adapters.ledger.tables import accounts
from kingdom.adapters.sql.audit_queries import SqlAuditQueries
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.direct_reads import direct_reads
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.sql.snapshot import ReadSnapshots
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.access import Actor, Policy, compile_policies
from kingdom.domain.identity import RegisterUser, StaleAccessToken, UserStatus
from kingdom.domain.ledger import Deposit, OpenAccount
from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.graphql import GraphQLServices, create_graphql_app
from kingdom.entrypoints.graphql.app import DEFAULT_DEADLINE
from kingdom.entrypoints.graphql.global_ids import encode
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.http.app import create_app
from kingdom.services.bootstrap import bootstrap
from kingdom.services.consumers import build_consumer
from kingdom.services.fakes import (
    FakeClock,
    FakePasswordHasher,
    FakeSecretSource,
    FakeTokenIssuer,
    RecordingMailer,
    SequentialIds,
    superuser,
)
from kingdom.services.identity.sessions import SessionPolicy
from kingdom.services.messagebus import MessageBus
from kingdom.services.meta import new_meta
from kingdom.services.ports import AccountQueries, ThrottlePolicy
from kingdom.services.ports.audit_queries import NoAuditTrail
from kingdom.services.retry import RetryPolicy

CODEC = CursorCodec(b"graphql-test-cursor-key-01234567")
PASSWORD = "correct horse battery"


async def _no_sleep(seconds: float) -> None:
    """Retries in tests should not wait."""


@dataclass
class Result:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])

    @property
    def codes(self) -> list[str]:
        return [error.get("extensions", {}).get("code") for error in self.errors]


@dataclass
class Api:
    """Kingdom over HTTP, in-process: the real bus and SQL, fakes for secrets and time."""

    database: Database
    client: httpx.AsyncClient
    bus: MessageBus
    clock: FakeClock
    ids: SequentialIds
    tokens: FakeTokenIssuer
    secrets: FakeSecretSource
    mailer: RecordingMailer
    """What the workers mail through: run them with :meth:`deliver_events`."""
    actors: dict[str, Actor] = field(default_factory=dict)

    async def authenticate(self, token: str) -> Actor:
        """Test tokens made by :meth:`token_for`, or tokens the fake issuer gave at login.

        An issued token is checked against its user's stored token version
        and status, as the composition root's ``authenticate`` does.
        """
        if token in self.actors:
            return self.actors[token]
        claims = self.tokens.claims(token)
        if claims is None:
            raise Unauthenticated("invalid or expired token")
        state = await SqlTokenStates(self.database).current(claims.user_id)
        if state is None or state.status is not UserStatus.ACTIVE:
            raise Unauthenticated("invalid access token: the account is not active")
        if state.token_version != claims.token_version:
            raise StaleAccessToken()
        return Actor(claims.user_id, claims.context)

    def token_for(self, actor: Actor) -> str:
        token = f"test-token-{len(self.actors) + 1}"
        self.actors[token] = actor
        return token

    def token_with(self, *policies: Policy, user_id: str = "someone") -> str:
        return self.token_for(Actor(user_id, compile_policies(policies)))

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> Result:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": dict(variables or {})}, headers=headers
        )
        return Result(response.status_code, response.json(), response.headers)

    async def ok(
        self, query: str, variables: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        """Execute and insist on success; returns ``data``."""
        result = await self.execute(query, variables, token=token)
        assert result.status == 200, result.body
        assert not result.errors, result.body
        return result.data

    # Arrangements through the bus (not the API under test).

    async def register(self, email: str, display_name: str = "Someone") -> str:
        user_id: str = await self.bus.handle(
            RegisterUser(
                meta=self.meta(), email=email, display_name=display_name, password=PASSWORD
            )
        )
        return user_id

    async def open_account(self, owner_id: str, balance: int = 0, currency: str = "EUR") -> str:
        account_id: str = await self.bus.handle(
            OpenAccount(meta=self.meta(), actor=superuser(), owner_id=owner_id, currency=currency)
        )
        if balance:
            await self.bus.handle(
                Deposit(meta=self.meta(), actor=superuser(), account_id=account_id, amount=balance)
            )
        return account_id

    def meta(self) -> Any:
        return new_meta(self.clock, self.ids)

    async def deliver_events(self) -> int:
        """Relay the outbox to the workers' consumer, as the embedded server does; how many went."""
        consumer = build_consumer(
            uow_factory=lambda: SqlUnitOfWork(self.database),
            dependencies={"clock": self.clock, "mailer": self.mailer},
        )
        return await drain(relay_to(self.database, consumer, self.clock))

    async def account_row(self, account_id: str) -> tuple[int, int]:
        """(balance, version) as stored."""
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(accounts.c.balance, accounts.c.version).where(
                        accounts.c.id == account_id
                    )
                )
            ).one()
        return row.balance, row.version

    async def outbox_size(self) -> int:
        async with self.database.engine.connect() as connection:
            return len((await connection.execute(select(outbox.c.position))).all())


def gid(type_name: str, id: str) -> str:
    return encode(type_name, id)


async def failures(api: Api, key: str) -> int:
    """The throttle's stored count for ``key`` (failed logins, or registrations)."""
    counters = await SqlLoginThrottle(api.database, ThrottlePolicy()).load([key])
    return counters[0].failures if counters else 0


@asynccontextmanager
async def running_api(
    database_url: str,
    *,
    debug: bool = False,
    account_queries: AccountQueries | None = None,
    throttle_policy: ThrottlePolicy | None = None,
    session_policy: SessionPolicy | None = None,
    production: bool = False,
    limits: QueryLimits | None = None,
    deadline: float = DEFAULT_DEADLINE,
    audit: bool = False,
) -> AsyncIterator[Api]:
    """The whole HTTP app (health and /graphql) on a fresh database at ``database_url``.

    ``production``, ``limits`` and ``deadline`` are the GraphQL app's
    (introspection, suggestions, explorer; query limits; seconds a query may run).
    ``audit`` serves the audit trail's read side (``auditLog``) from the
    database; without it the API has an empty trail.
    """
    async with schema_database(database_url) as database:
        clock, ids = FakeClock(), SequentialIds()
        tokens, secrets, mailer = FakeTokenIssuer(clock), FakeSecretSource(), RecordingMailer()
        bus = bootstrap(
            uow_factory=lambda: SqlUnitOfWork(database),
            dependencies={
                "clock": clock,
                "ids": ids,
                "hasher": FakePasswordHasher(),
                "tokens": tokens,
                "secrets": secrets,
                "throttle": SqlLoginThrottle(database, throttle_policy or ThrottlePolicy()),
                "session_policy": session_policy or SessionPolicy(),
            },
            retry=RetryPolicy(sleep=_no_sleep),
        )
        api: Api
        services = GraphQLServices(
            bus=bus,
            users=SqlUserQueries(database, CODEC),
            roles=SqlRoleQueries(database, CODEC),
            accounts=account_queries or SqlAccountQueries(database, CODEC),
            transfers=SqlTransferQueries(database, CODEC),
            clock=clock,
            ids=ids,
            authenticate=lambda token: api.authenticate(token),
            read_snapshot=ReadSnapshots(database),
            audit=SqlAuditQueries(database, CODEC) if audit else NoAuditTrail(),
        )
        app: ASGIApp = create_app(
            create_graphql_app(
                services, debug=debug, production=production, limits=limits, deadline=deadline
            )
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kingdom.test") as client:
            api = Api(
                database=database,
                client=client,
                bus=bus,
                clock=clock,
                ids=ids,
                tokens=tokens,
                secrets=secrets,
                mailer=mailer,
            )
            yield api


@asynccontextmanager
async def counting_statements(api: Api) -> AsyncIterator[list[str]]:
    """Every SQL statement run on the database while the block runs, through SQLAlchemy
    or straight on the driver (:mod:`kingdom.adapters.sql.direct_reads`)."""
    reads = direct_reads(api.database)
    with recording_statements(api.database.engine) as seen:
        reads.trace = seen.append
        try:
            yield seen
        finally:
            reads.trace = None


def edges_ids(connection: Mapping[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]
