"""Alembic's environment, loaded by file path for every command.

:mod:`.runner` opens the connection (async engine, one transaction) and hands
its synchronous face (``AsyncConnection.run_sync``) over in
``config.attributes["connection"]``. Without one — Alembic driven some other
way — the URL in ``sqlalchemy.url`` is migrated the same way.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from kingdom.adapters.migrations.models import target_metadata
from kingdom.adapters.migrations.runner import migration_engine


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        # SQLite cannot ALTER most things: batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    engine = migration_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("Kingdom's migrations run online only (no --sql scripts)")
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        run_migrations(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    asyncio.run(run_with_own_engine(url))


main()
