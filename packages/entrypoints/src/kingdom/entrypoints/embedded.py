"""The zero-configuration default: a SQLite file in the data directory, kept migrated."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from kingdom.adapters.migrations import runner
from kingdom.entrypoints.settings import Settings


async def prepare(settings: Settings) -> str:
    """Make the embedded database ready (directory, pending migrations); describe it.

    Only the embedded default migrates itself: a shared Postgres is migrated
    on purpose, by an operator running ``migrate upgrade``.
    """
    url = make_url(settings.database_url)
    if not settings.embedded:
        return f"database {url.render_as_string(hide_password=True)}"
    await runner.prepare_embedded(settings.database_url)
    where = Path(url.database or "").resolve()
    return f"embedded database {where} (migrated to {', '.join(runner.heads())})"
