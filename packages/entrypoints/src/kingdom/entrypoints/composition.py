"""The composition root: the one place that builds adapters, the bus and the app.

Everything below receives what it needs as arguments; this module turns
:class:`~kingdom.entrypoints.settings.Settings` into running parts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware

from kingdom.adapters.identity.queries import SqlRoleQueries, SqlUserQueries
from kingdom.adapters.identity.token_states import SqlTokenStates
from kingdom.adapters.ledger.queries import SqlAccountQueries, SqlTransferQueries
from kingdom.adapters.messaging.in_process import InProcessPublisher
from kingdom.adapters.messaging.mail_folder import MailFolder
from kingdom.adapters.security.passwords import Argon2PasswordHasher
from kingdom.adapters.security.secrets import UrlSafeSecrets
from kingdom.adapters.security.tokens import HmacKey, JwtTokenIssuer, JwtTokenVerifier, KeySet
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.adapters.system import SystemClock, UuidIds
from kingdom.domain.access import Actor
from kingdom.domain.identity import UserStatus
from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.graphql import GraphQLServices, create_graphql_app
from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.secrets import derived_key, key_id, signing_secret
from kingdom.entrypoints.settings import Settings
from kingdom.services.bootstrap import bootstrap
from kingdom.services.messagebus import MessageBus


@dataclass(frozen=True)
class Kingdom:
    """The running parts of one server process."""

    settings: Settings
    database: Database
    bus: MessageBus
    services: GraphQLServices


def build(settings: Settings) -> Kingdom:
    database = create_database(settings.database_url)
    secret = signing_secret(settings)
    keys = KeySet.single(HmacKey(key_id(secret), secret))
    clock, ids = SystemClock(), UuidIds()
    issuer = JwtTokenIssuer(
        keys,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        clock=clock,
        lifetime=timedelta(seconds=settings.token_lifetime_seconds),
    )
    verifier = JwtTokenVerifier(
        keys, issuer=settings.token_issuer, audience=settings.token_audience, clock=clock
    )
    bus = bootstrap(
        uow_factory=lambda: SqlUnitOfWork(database),
        dependencies={
            "clock": clock,
            "ids": ids,
            "hasher": Argon2PasswordHasher(),
            "tokens": issuer,
            "secrets": UrlSafeSecrets(),
            "mailer": MailFolder(settings.data_dir / "mail"),
            "publisher": InProcessPublisher(),
        },
    )
    token_states = SqlTokenStates(database)

    async def authenticate(bearer: str) -> Actor:
        token = verifier.verify(bearer)
        state = await token_states.current(token.user_id)
        # The signature proves who issued the token, not that it still holds:
        # a password change or a disabled account bumps the stored version.
        if state is None or state.status is not UserStatus.ACTIVE:
            raise Unauthenticated("invalid access token: the account is not active")
        if state.token_version != token.token_version:
            raise Unauthenticated("invalid access token: it was revoked")
        return Actor(token.user_id, token.context)

    cursors = CursorCodec(derived_key(secret, "cursors"))
    services = GraphQLServices(
        bus=bus,
        users=SqlUserQueries(database, cursors, count_totals=True),
        roles=SqlRoleQueries(database, cursors, count_totals=True),
        accounts=SqlAccountQueries(database, cursors, count_totals=True),
        transfers=SqlTransferQueries(database, cursors, count_totals=True),
        clock=clock,
        ids=ids,
        authenticate=authenticate,
    )
    return Kingdom(settings, database, bus, services)


def asgi_app(kingdom: Kingdom) -> Starlette:
    """The HTTP app for ``kingdom``; its lifespan closes the database pool."""

    async def database_answers() -> None:
        async with kingdom.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    app = create_app(
        create_graphql_app(kingdom.services, debug=not kingdom.settings.production),
        ready=database_answers,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await kingdom.database.dispose()

    app.router.lifespan_context = lifespan
    if kingdom.settings.cors_origins:
        # Bearer tokens travel in a header, not cookies: no credentials mode.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(kingdom.settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
