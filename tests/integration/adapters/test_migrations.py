"""Alembic owns the schema: the migrations go up and down cleanly and match the models."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection

from integration.databases import fresh_postgres, sqlite_url
from kingdom.adapters.identity.tables import reset_tokens
from kingdom.adapters.migrations import runner
from kingdom.adapters.migrations.models import target_metadata
from kingdom.adapters.migrations.runner import DatabaseNotAtHead, InvalidRevision
from kingdom.adapters.sql.engine import create_database
from kingdom.entrypoints import migrate


async def _tables(url: str) -> set[str]:
    """The database's tables and, on PostgreSQL, sequences (``sequence:name``)."""

    def read(connection: Connection) -> set[str]:
        inspector = inspect(connection)
        names = set(inspector.get_table_names())
        if connection.dialect.name == "postgresql":
            names |= {f"sequence:{name}" for name in inspector.get_sequence_names()}
        return names

    database = create_database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await database.dispose()


async def test_upgrade_downgrade_and_upgrade_again(database_url: str) -> None:
    model_tables = set(target_metadata().tables) | {"alembic_version"}
    assert await runner.current(database_url) == ()

    await runner.upgrade(database_url)
    assert await runner.current(database_url) == runner.heads()
    migrated = await _tables(database_url)
    assert {name for name in migrated if not name.startswith("sequence:")} == model_tables

    await runner.downgrade(database_url, "base")
    assert await runner.current(database_url) == ()
    # Nothing left behind, not even the sequence of a serial column.
    assert await _tables(database_url) == {"alembic_version"}

    await runner.upgrade(database_url, "head")
    assert await runner.current(database_url) == runner.heads()
    assert await _tables(database_url) == migrated


async def test_concurrent_upgrades_take_turns(database_url: str) -> None:
    # Several replicas migrating at start-up: one does the work, the others
    # find it done instead of failing on "table already exists".
    await asyncio.gather(*(runner.upgrade(database_url) for _ in range(3)))
    assert await runner.current(database_url) == runner.heads()


async def test_the_models_and_the_migrations_agree(database_url: str) -> None:
    await runner.upgrade(database_url)
    await runner.check(database_url)  # raises SchemaDrift listing the differences


@pytest.fixture()
async def models_database_url(
    database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A second fresh database on the same server as ``database_url``."""
    if database_url.startswith("sqlite"):
        (directory := tmp_path / "models").mkdir()
        yield sqlite_url(directory)
        return
    async with fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


def _plain(value: Any) -> Any:
    """Reflected details as plain, ordered, comparable values (SQL text as text)."""
    if isinstance(value, dict):
        return tuple(sorted((key, _plain(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, str | int | float | bool | None):
        return value
    return str(value)  # types, SQL expressions


def _schema(connection: Connection) -> dict[str, Any]:
    """Everything reflection sees of every table, in a comparable form."""
    inspector = inspect(connection)

    def each(items: list[Any]) -> list[str]:
        return sorted(repr(_plain(item)) for item in items)

    return {
        table: {
            "columns": each(inspector.get_columns(table)),
            "primary key": _plain(inspector.get_pk_constraint(table)),
            "foreign keys": each(inspector.get_foreign_keys(table)),
            "unique": each(inspector.get_unique_constraints(table)),
            "indexes": each(inspector.get_indexes(table)),
            "checks": each(inspector.get_check_constraints(table)),
        }
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


async def test_the_migrations_build_exactly_the_models_schema(
    database_url: str, models_database_url: str
) -> None:
    # Autogenerate skips CHECK constraints, partial-index predicates and more:
    # compare everything reflection reports with a database built from the models.
    await runner.upgrade(database_url)
    migrated, modelled = create_database(database_url), create_database(models_database_url)
    try:
        async with modelled.engine.begin() as connection:
            await connection.run_sync(target_metadata().create_all)
        async with migrated.engine.connect() as a, modelled.engine.connect() as b:
            assert await a.run_sync(_schema) == await b.run_sync(_schema)
    finally:
        await migrated.dispose()
        await modelled.dispose()


async def test_0003_gives_codes_outstanding_at_the_upgrade_an_issue_time(database_url: str) -> None:
    expires = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    await runner.upgrade(database_url, "0002")
    database = create_database(database_url)
    try:
        async with database.writer.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, display_name, status, password_hash,"
                    " policies, token_version, version)"
                    " VALUES ('u-1', 'ann@example.org', 'Ann', 'active', 'h', '[]', 0, 1)"
                )
            )
            await connection.execute(
                insert(reset_tokens).values(
                    id="t-1", user_id="u-1", token_hash="ab" * 32, expires_at=expires
                )
            )
        await database.dispose()  # SQLite: the migration needs the file to itself

        await runner.upgrade(database_url)

        async with database.engine.connect() as connection:
            row = (await connection.execute(select(reset_tokens))).mappings().one()
        assert row["issued_at"] == expires - timedelta(minutes=30)
        assert row["expires_at"] == expires
    finally:
        await database.dispose()


async def test_check_needs_a_database_at_head(database_url: str) -> None:
    with pytest.raises(DatabaseNotAtHead):
        await runner.check(database_url)


async def test_an_unknown_revision_is_refused_and_changes_nothing(database_url: str) -> None:
    with pytest.raises(InvalidRevision, match="nonexistent"):
        await runner.upgrade(database_url, "nonexistent")
    assert await runner.current(database_url) == ()
    assert await _tables(database_url) <= {"alembic_version"}


def _migrate(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # The child finds first-party code through the test's sys.path.
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "KINGDOM_DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "kingdom.entrypoints.migrate", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_migrate_command_upgrades_and_reports(database_url: str) -> None:
    upgraded = _migrate(database_url, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade" in upgraded.stderr
    current = _migrate(database_url, "current")
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == f"{', '.join(runner.heads())} (head)"
    checked = _migrate(database_url, "check")
    assert checked.returncode == 0, checked.stderr


async def test_the_migrate_command_refuses_an_unknown_revision(database_url: str) -> None:
    result = _migrate(database_url, "upgrade", "nonexistent")
    assert result.returncode == 2
    assert "nonexistent" in result.stderr
    assert await runner.current(database_url) == ()


@pytest.mark.parametrize(
    ("url", "arguments"),
    [
        ("postgresql://postgres@127.0.0.1/kingdom", ["current"]),  # not the async driver
        ("mysql+aiomysql://root@localhost/kingdom", ["current"]),
        ("not a url", ["current"]),
        ("sqlite+aiosqlite:///{tmp}/k.db", ["downgrade"]),  # downgrade needs a revision
        ("sqlite+aiosqlite:///{tmp}/k.db", ["sideways"]),
    ],
)
def test_the_migrate_command_refuses_bad_input(
    url: str, arguments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"KINGDOM_DATABASE_URL": url.format(tmp=tmp_path)}
    status: int | str | None
    try:
        status = migrate.run(arguments, environ)
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    assert status == 2
    assert capsys.readouterr().err.strip()


def test_the_default_database_is_the_embedded_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert migrate.run(["upgrade"], {}) == 0
    assert (tmp_path / ".kingdom" / "kingdom.db").is_file()
    assert migrate.run(["current"], {}) == 0
    assert capsys.readouterr().out.strip().endswith("(head)")
