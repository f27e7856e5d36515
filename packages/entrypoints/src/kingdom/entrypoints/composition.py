"""The composition root: the one place that builds adapters, the bus and the app.

Everything below receives what it needs as arguments; this module turns
:class:`~kingdom.entrypoints.settings.Settings` into running parts.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import text
from starlette.applications import Starlette

from kingdom.adapters.identity.queries import SqlRoleQueries, SqlUserQueries
from kingdom.adapters.identity.throttle import SqlLoginThrottle
from kingdom.adapters.identity.token_state_cache import TokenStateCache, token_state_notices
from kingdom.adapters.identity.token_states import SqlTokenStates
from kingdom.adapters.ledger.queries import SqlAccountQueries, SqlTransferQueries
from kingdom.adapters.metrics import pool_usage
from kingdom.adapters.metrics.token_states import TokenStateMetrics
from kingdom.adapters.metrics.worker import WorkerMetrics
from kingdom.adapters.security.passwords import Argon2PasswordHasher
from kingdom.adapters.security.secrets import UrlSafeSecrets
from kingdom.adapters.security.token_cache import CachingTokenVerifier
from kingdom.adapters.security.tokens import JwtTokenIssuer, JwtTokenVerifier, KeySet
from kingdom.adapters.sql.audit_queries import SqlAuditQueries
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.direct_reads import direct_reads
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.adapters.sql.snapshot import ReadSnapshots
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.adapters.system import SystemClock, UuidIds
from kingdom.adapters.telemetry import Tracing, configure_tracing
from kingdom.domain.access import Actor
from kingdom.domain.identity import StaleAccessToken, UserStatus
from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.event_delivery import EventDelivery, event_delivery
from kingdom.entrypoints.graphql import GraphQLServices, create_graphql_app
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.http.access_log import AccessLog, stderr_sink
from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.http.metrics import MetricsEndpoint
from kingdom.entrypoints.secrets import cursor_key, signing_keys
from kingdom.entrypoints.settings import Settings
from kingdom.services.bootstrap import bootstrap
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.identity.sessions import SessionPolicy
from kingdom.services.messagebus import MessageBus
from kingdom.services.ports import ThrottlePolicy
from kingdom.services.tracing import NO_TRACER, TRACER


@dataclass(frozen=True)
class Kingdom:
    """The running parts of one server process."""

    settings: Settings
    database: Database
    bus: MessageBus
    services: GraphQLServices
    keys: KeySet
    """The token keys; their public halves are published as the JWKS."""
    events: EventDelivery
    """The outbox relay (and, embedded, the workers) this process runs."""
    tracing: Tracing | None = None
    """The span exporter, when an OTLP endpoint is configured (``KINGDOM_OTEL_*``, ``OTEL_*``)."""
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    """This process's metrics (the in-process workers' counters among them): ``GET /metrics``."""
    token_states: TokenStateCache | None = None
    """On PostgreSQL, the token states ``authenticate`` caches while the lifespan listens."""


SERVER_SERVICE = "kingdom-server"
"""The service name of the server's spans (unless ``OTEL_SERVICE_NAME`` says otherwise)."""


def build(settings: Settings) -> Kingdom:
    database = create_database(settings.database_url, pool_size=settings.database_pool_size)
    keys = signing_keys(settings)
    clock, ids = SystemClock(), UuidIds()
    issuer = JwtTokenIssuer(
        keys,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        clock=clock,
        lifetime=timedelta(seconds=settings.token_lifetime_seconds),
    )
    # A repeated bearer skips the signature and claim checks until it expires;
    # `authenticate` still checks the token state on every request.
    verifier = CachingTokenVerifier(
        JwtTokenVerifier(
            keys, issuer=settings.token_issuer, audience=settings.token_audience, clock=clock
        ),
        clock=clock,
    )
    tracing = configure_tracing(settings.events.otel_traces_endpoint, SERVER_SERVICE)
    tracer = tracing.tracer if tracing is not None else NO_TRACER
    registry = CollectorRegistry()
    events = event_delivery(settings.events, database, clock, tracer, WorkerMetrics(registry))
    wake_relay = events.wake
    bus = bootstrap(
        uow_factory=lambda: SqlUnitOfWork(database, after_commit=wake_relay),
        dependencies={
            "clock": clock,
            "ids": ids,
            "hasher": password_hasher(settings),
            "tokens": issuer,
            "secrets": UrlSafeSecrets(),
            # In the database: every uvicorn worker sees the same counters.
            "throttle": SqlLoginThrottle(database, throttle_policy(settings)),
            "session_policy": session_policy(settings),
            "reset_token_ttl": timedelta(seconds=settings.reset_token_ttl_seconds),
            # What a newcomer may do without an administrator: its own accounts
            # and its own user. Pass () to have every grant come from an admin.
            "new_user_policies": NEW_USER_POLICIES,
            # Commands are spans of their request's trace (when spans are recorded).
            TRACER: tracer,
        },
        idempotency_retention=timedelta(seconds=settings.idempotency_retention_seconds),
    )
    # On PostgreSQL token states are cached, trusted only while the lifespan's
    # listener proves every change reaches this process within 100 ms; SQLite
    # reads each one in the event loop's thread (microseconds).
    token_states = SqlTokenStates(database)
    token_cache = (
        TokenStateCache(token_states.current, metrics=TokenStateMetrics(registry))
        if database.dialect == "postgresql"
        else None
    )
    current_state = token_states.current if token_cache is None else token_cache.current

    async def authenticate(bearer: str) -> Actor:
        token = verifier.verify(bearer)
        state = await current_state(token.user_id)
        # The signature proves who issued the token, not that it still holds:
        # a password change, a disabled account or any change of grants bumps
        # the stored version, and the answer tells the client to refresh.
        if state is None or state.status is not UserStatus.ACTIVE:
            raise Unauthenticated("invalid access token: the account is not active")
        if state.token_version != token.token_version:
            raise StaleAccessToken()
        return Actor(token.user_id, token.context)

    cursors = CursorCodec(cursor_key(keys))
    services = GraphQLServices(
        bus=bus,
        users=SqlUserQueries(database, cursors),
        roles=SqlRoleQueries(database, cursors),
        accounts=SqlAccountQueries(database, cursors),
        transfers=SqlTransferQueries(database, cursors),
        clock=clock,
        ids=ids,
        authenticate=authenticate,
        read_snapshot=ReadSnapshots(database),
        audit=SqlAuditQueries(database, cursors),
    )
    return Kingdom(
        settings, database, bus, services, keys, events, tracing, registry, token_states=token_cache
    )


def _published(keys: KeySet) -> dict[str, list[dict[str, str]]] | None:
    """The JWKS to serve, or None when every key is an HS256 secret (nothing is public)."""
    document = keys.public_jwks()
    return document if document["keys"] else None


def password_hasher(settings: Settings) -> Argon2PasswordHasher:
    """argon2id with the ``KINGDOM_PASSWORD_*`` costs (raising one rehashes at next login)."""
    return Argon2PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


def session_policy(settings: Settings) -> SessionPolicy:
    """The refresh-token family limits (``KINGDOM_REFRESH_*``)."""
    return SessionPolicy(
        idle_limit=timedelta(seconds=settings.refresh_idle_seconds),
        absolute_lifetime=timedelta(seconds=settings.refresh_lifetime_seconds),
    )


def query_limits(settings: Settings) -> QueryLimits:
    """The GraphQL query limits (``KINGDOM_MAX_QUERY_*``)."""
    return QueryLimits(
        max_depth=settings.max_query_depth,
        max_cost=settings.max_query_cost,
        max_tokens=settings.max_query_tokens,
        max_aliases=settings.max_query_aliases,
        max_length=settings.max_query_length,
        max_selections=settings.max_query_selections,
        max_merge_checks=settings.max_query_merge_checks,
    )


def throttle_policy(settings: Settings) -> ThrottlePolicy:
    """The login and registration throttle's limits (``KINGDOM_LOGIN_*``, ``KINGDOM_REGISTER_*``)."""
    return ThrottlePolicy(
        account_free_failures=settings.login_account_free_failures,
        address_free_failures=settings.login_address_free_failures,
        register_free_attempts=settings.register_address_free_attempts,
        max_delay=timedelta(seconds=settings.login_max_delay_seconds),
        quiet_window=timedelta(seconds=settings.login_quiet_seconds),
    )


def metrics_endpoint(kingdom: Kingdom) -> MetricsEndpoint | None:
    """``GET /metrics`` for the peers in ``KINGDOM_METRICS_ALLOW``; None when it is off."""
    if not kingdom.settings.metrics_allow:
        return None
    database = kingdom.database
    return MetricsEndpoint(
        kingdom.registry,
        allow=kingdom.settings.metrics_allow,
        pool_stats=lambda: pool_usage(
            database.engine.sync_engine.pool,
            database.writer.sync_engine.pool,
            direct=direct_reads(database),
        ),
        backlog=SqlOutboxFeed(database).backlog,
    )


def _token_state_notices(kingdom: Kingdom) -> contextlib.AbstractAsyncContextManager[None]:
    """The listener that lets ``authenticate`` trust its cache (nothing without one)."""
    if kingdom.token_states is None:
        return contextlib.nullcontext()
    return token_state_notices(kingdom.database, kingdom.token_states)


def asgi_app(kingdom: Kingdom) -> AccessLog:
    """The HTTP app for ``kingdom``; its lifespan runs the event delivery and the token
    state listener, then closes the database pool."""

    async def database_answers() -> None:
        async with kingdom.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        # Everything built so far (schema, modules, app) lives as long as the
        # process: out of the collector's sight, a full collection walks only
        # what requests allocate, and stalls the event loop that much less.
        gc.collect()
        gc.freeze()
        async with (
            kingdom.events.running(kingdom.database),
            _token_state_notices(kingdom),
        ):
            # Lifespan state reaches every request's scope["state"]: the access
            # log makes each request a span with this tracer.
            yield {TRACER: kingdom.tracing.tracer} if kingdom.tracing is not None else {}
        await kingdom.database.dispose()
        if kingdom.tracing is not None:
            kingdom.tracing.shutdown()  # the last spans go before the process does

    return create_app(
        create_graphql_app(
            kingdom.services,
            debug=not kingdom.settings.production,
            production=kingdom.settings.production,
            limits=query_limits(kingdom.settings),
            deadline=kingdom.settings.query_deadline_ms / 1000,
        ),
        ready=database_answers,
        public_keys=_published(kingdom.keys),
        cors_origins=kingdom.settings.cors_origins,
        # The same JSON line logging would write to stderr, without a LogRecord.
        access_sink=stderr_sink(),
        explorer=not kingdom.settings.production,
        metrics=metrics_endpoint(kingdom),
        lifespan=lifespan,
    )
