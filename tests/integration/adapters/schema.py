"""Create Kingdom's schema in a test database by running the Alembic migrations.

Every adapter test thereby runs on the schema production gets, built by the
real migration history, not on ``metadata.create_all``'s idea of it
(``test_migrations`` proves the two agree).
"""

from __future__ import annotations

from kingdom.adapters.migrations import runner
from kingdom.adapters.sql.engine import Database


async def create_schema(database: Database) -> None:
    # The runner opens its own connection (it needs DDL-friendly settings);
    # file and server databases are shared, so the tests' engine sees the result.
    await runner.upgrade(database.engine.url.render_as_string(hide_password=False))
