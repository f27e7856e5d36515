"""``./pants run packages/entrypoints:migrate -- upgrade head``: manage the database schema.

Subcommands: ``upgrade [REV]`` (default head), ``downgrade REV`` (``base``
reverts everything), ``current``, ``check`` (the models and the migrations
agree; needs a database at head). The database is ``KINGDOM_DATABASE_URL``,
by default the embedded SQLite file ``kingdom.db`` in ``KINGDOM_DATA_DIR``
(``./.kingdom``), read through the same :class:`Settings` as the server.

Exit status: 0 done, 1 the command failed (database unreachable, schema
drift, database not at head), 2 bad input (bad URL, unknown revision, bad
arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from sqlalchemy.exc import SQLAlchemyError

from kingdom.adapters.migrations import runner
from kingdom.adapters.migrations.runner import InvalidRevision, MigrationError
from kingdom.adapters.sql.engine import parse_database_url
from kingdom.entrypoints.settings import Settings, SettingsError

OK, FAILED, BAD_INPUT = 0, 1, 2
_PROGRESS = "kingdom-migrate-progress"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(BAD_INPUT, f"kingdom migrate: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kingdom migrate",
        description="Apply Kingdom's database migrations to $KINGDOM_DATABASE_URL "
        "(default: the embedded SQLite file in $KINGDOM_DATA_DIR, ./.kingdom).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    upgrade = commands.add_parser("upgrade", help="apply migrations up to REV (default: head)")
    upgrade.add_argument("revision", nargs="?", default="head", metavar="REV")
    downgrade = commands.add_parser("downgrade", help="revert migrations down to REV ('base')")
    downgrade.add_argument("revision", metavar="REV")
    commands.add_parser("current", help="show the revision the database is at")
    commands.add_parser("check", help="fail if the models and the migrations disagree")
    return parser


def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    arguments = _parser().parse_args(argv)
    try:
        settings = Settings.from_environ(environ)
    except SettingsError as error:
        return _fail(BAD_INPUT, f"invalid setting {error}")
    raw_url = settings.database_url
    url = parse_database_url(raw_url)
    runner.create_sqlite_directory(raw_url)
    shown = url.render_as_string(hide_password=True)
    _show_progress()
    try:
        return asyncio.run(_command(arguments, raw_url, shown))
    except InvalidRevision as error:
        return _fail(BAD_INPUT, str(error))
    except MigrationError as error:
        return _fail(FAILED, str(error))
    except (SQLAlchemyError, OSError) as error:
        return _fail(FAILED, f"database {shown} failed: {error}")


async def _command(arguments: argparse.Namespace, url: str, shown: str) -> int:
    if arguments.command == "upgrade":
        await runner.upgrade(url, arguments.revision)
        _say(f"database {shown} is at {_describe(await runner.current(url))}")
    elif arguments.command == "downgrade":
        await runner.downgrade(url, arguments.revision)
        _say(f"database {shown} is at {_describe(await runner.current(url))}")
    elif arguments.command == "current":
        print(_describe(await runner.current(url)))
    else:
        await runner.check(url)
        _say(f"database {shown}: the models and the migrations agree")
    return OK


def _describe(revisions: tuple[str, ...]) -> str:
    if not revisions:
        return "base (no migrations applied)"
    at = ", ".join(revisions)
    heads = runner.heads()
    return f"{at} (head)" if set(revisions) == set(heads) else f"{at} (head is {', '.join(heads)})"


def _show_progress() -> None:
    """Show Alembic's "Running upgrade 0001 -> 0002" lines, not its chatter."""
    logger = logging.getLogger("alembic.runtime.migration")
    if any(h.get_name() == _PROGRESS for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_PROGRESS)
    handler.setFormatter(logging.Formatter("kingdom: %(message)s"))
    handler.addFilter(lambda record: record.getMessage().startswith("Running "))
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)


def _say(message: str) -> None:
    print(f"kingdom: {message}", file=sys.stderr)


def _fail(status: int, message: str) -> int:
    print(f"kingdom migrate: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(sys.argv[1:] if argv is None else argv, os.environ))


if __name__ == "__main__":
    main()
