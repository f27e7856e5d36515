"""Hot read-only statements run straight on the driver, behind the same query ports.

A SQLAlchemy ``execute`` costs far more CPU than the database spends on a
point read: checking out through :class:`~sqlalchemy.ext.asyncio.AsyncConnection`,
compiling-cache lookups, the result machinery and, on SQLite, aiosqlite's
thread hops (about four per statement, each a wake-up of another thread).
:class:`DirectReads` keeps what SQLAlchemy is good at, the statement itself
(a Core ``select``, compiled once per dialect) and its types' processors,
and runs it on the driver:

* PostgreSQL: an asyncpg prepared statement (prepared once per connection)
  on one of a few connections of the reader's own
  (:mod:`~kingdom.adapters.sql.read_connections`: taken from the engine's
  overflow, so the server's connection limit holds; checked out without a
  greenlet or the pool's bookkeeping, which cost as much CPU as the
  statement). A failure that means the database is out of reach raises the
  same :mod:`~kingdom.services.outages` errors as
  :func:`~kingdom.adapters.sql.outages.watch_outages` and drops the
  connection and every older one, as the engine's pool does; a connection
  the driver already knows is closed is replaced before use. A statement
  cancelled half-way (a deadline) is cancelled on the server too, and the
  connection's next user waits for that.
* SQLite (a file): the standard library :mod:`sqlite3` on one read-only
  connection, used in the event loop's thread. Each statement is its own
  read transaction (autocommit); under WAL readers never wait for writers, so
  a point read costs microseconds and blocking the loop for it is cheaper
  than any hand-off to a thread. The connection never waits for a lock
  (``timeout=0``): if SQLite answers busy or locked (a database not in WAL
  mode while a writer commits, a WAL being recovered) the statement runs
  through the engine instead, whose connections wait off the loop like every
  other read. A file that cannot be opened or read raises
  :class:`~kingdom.services.outages.Unavailable`, as through the engine.
  Of the engine's pragmas none applies: WAL is the file's (the engine's
  connections set it), foreign keys and ``synchronous`` concern writes, and
  waiting for locks is left to the engine. A statement here holds up every
  request of its worker while it runs: keep to statements an index answers.
* An in-memory SQLite database exists only inside the engine's connection:
  statements run through the engine.

Inside an operation's read snapshot (:class:`~kingdom.adapters.sql.snapshot.ReadSnapshots`)
statements run on the snapshot's connection, through SQLAlchemy, so every
read of that operation still sees one moment.

Rows come back as tuples (``columns`` names their keys), processed by the
columns' types exactly as SQLAlchemy would (enums, JSON, UTC datetimes), on
either path. Only reads belong here: nothing commits, and on SQLite the
connection is opened read-only.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from kingdom.adapters.sql.engine import RECYCLE_SECONDS, Database, postgres_dsn
from kingdom.adapters.sql.json_text import decode_json
from kingdom.adapters.sql.outages import outage_for
from kingdom.adapters.sql.read_connections import ReadConnections
from kingdom.adapters.sql.snapshot import read_connection, reading_in_snapshot

Row = tuple[Any, ...]
Processor = Callable[[Any], Any]

_NO_PARAMETERS: Final[Mapping[str, Any]] = {}
_REQUIRED: Final = object()
_SQLITE_WAIT: Final = ("SQLITE_BUSY", "SQLITE_LOCKED")
"""SQLite's answers that mean "try later": the engine's connections wait for those."""
_MAX_PREPARED: Final = 256
"""Prepared statements kept per PostgreSQL connection (each holds a server-side plan)."""


class DirectReads:
    """The direct reader of one database: ``direct_reads(database).statement(select(...))``.

    ``trace``, when set, is called with the SQL of every statement run
    directly (not those run through the engine): tests use it to count.
    """

    def __init__(self, database: Database) -> None:
        self._reader = database.reader
        self._dialect = database.engine.dialect
        self._driver: _Postgres | _Sqlite | None = None
        if database.dialect == "postgresql":
            dsn = postgres_dsn(database.engine.url)
            self._driver = _Postgres(
                ReadConnections(
                    lambda: connect_for_reads(dsn),
                    database.read_connections,
                    recycle=RECYCLE_SECONDS,
                )
            )
        elif database.engine.url.database not in (None, "", ":memory:"):
            self._driver = _Sqlite(Path(str(database.engine.url.database)))
        self.trace: Callable[[str], None] | None = None

    @property
    def direct(self) -> bool:
        """Whether statements can bypass the engine here (not in-memory SQLite)."""
        return self._driver is not None

    def connection_usage(self) -> tuple[int, int]:
        """(in use, idle) of the reader's own PostgreSQL connections; SQLite's one
        connection in the loop thread, or none at all, counts as (0, 0)."""
        if isinstance(self._driver, _Postgres):
            return self._driver.connections.usage()
        return 0, 0

    def statement(self, statement: Select[Any]) -> DirectStatement:
        """``statement`` ready to run, compiled once for this database."""
        return DirectStatement(self, statement)

    async def close(self) -> None:
        """Close what the reader holds open (its connections); it reopens on demand."""
        if isinstance(self._driver, _Sqlite):
            self._driver.close()
        elif isinstance(self._driver, _Postgres):
            await self._driver.connections.close()


class DirectStatement:
    """One read-only statement of a :class:`DirectReads`; run it as often as needed.

    ``parameters`` name the statement's bind parameters (``bindparam("id")``);
    expanding ones (``IN`` lists on SQLite) are expanded on each run.
    """

    __slots__ = (
        "_arguments",
        "_compiled",
        "_expanding",
        "_reads",
        "_result_processors",
        "_statement",
        "columns",
        "sql",
    )

    def __init__(self, reads: DirectReads, statement: Select[Any]) -> None:
        dialect = reads._dialect
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self._reads = reads
        self._statement = statement
        self._compiled = compiled
        self.sql: str = compiled.string
        self.columns: tuple[str, ...] = tuple(statement.selected_columns.keys())
        self._expanding = bool(compiled.post_compile_params or compiled.literal_execute_params)
        escaped = {v: k for k, v in (compiled.escaped_bind_names or {}).items()}
        arguments: list[tuple[str, Processor | None, Any]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[escaped.get(name, name)]
            default = _REQUIRED if bind.required or bind.callable else bind.value
            arguments.append(
                (bind.key, bind.type.dialect_impl(dialect).bind_processor(dialect), default)
            )
        self._arguments = tuple(arguments)
        # PostgreSQL's processors depend on the column's wire type, known once
        # the statement is prepared; SQLite's driver names no types.
        # Only the columns that need one, as (position, processor): most need none.
        self._result_processors: tuple[tuple[int, Processor], ...] | None = (
            None if dialect.name == "postgresql" else self._processors(dialect, None)
        )

    async def first(self, parameters: Mapping[str, Any] = _NO_PARAMETERS) -> Row | None:
        """The first row, or None when there is none."""
        rows = await self._run(parameters, first=True)
        return rows[0] if rows else None

    async def all(self, parameters: Mapping[str, Any] = _NO_PARAMETERS) -> list[Row]:
        """Every row, in the statement's order."""
        return await self._run(parameters, first=False)

    async def _run(self, parameters: Mapping[str, Any], *, first: bool) -> list[Row]:
        reads = self._reads
        driver = reads._driver
        if driver is None or reading_in_snapshot(reads._reader):
            return await self._through_engine(parameters, first=first)
        sql, arguments = self._bound(parameters)
        if reads.trace is not None:
            reads.trace(sql)
        raw: Sequence[Any]
        if isinstance(driver, _Sqlite):
            found = driver.run(sql, arguments, first=first)
            if found is None:  # SQLite said "busy": the engine's connection waits
                return await self._through_engine(parameters, first=first)
            raw = found
        else:
            raw, prepared = await driver.run(sql, arguments, first=first)
            if self._result_processors is None:
                wire_types = [attribute.type.oid for attribute in prepared.get_attributes()]
                self._result_processors = self._processors(reads._dialect, wire_types)
        processors = self._result_processors
        if not processors:
            return [tuple(row) for row in raw]
        rows = []
        for row in raw:
            values = list(row)
            for position, process in processors:
                values[position] = process(values[position])
            rows.append(tuple(values))
        return rows

    def _bound(self, parameters: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The SQL to send and its positional arguments, processed for the driver."""
        if self._expanding:
            state = self._compiled.construct_expanded_state(dict(parameters), escape_names=False)
            processors, values = state.processors, state.parameters
            return state.statement, tuple(
                processors[name](values[name]) if name in processors else values[name]
                for name in state.positiontup or ()
            )
        arguments = []
        for name, process, default in self._arguments:
            value = parameters.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"no value for the parameter {name!r} of: {self.sql}")
            arguments.append(value if process is None else process(value))
        return self.sql, tuple(arguments)

    async def _through_engine(self, parameters: Mapping[str, Any], *, first: bool) -> list[Row]:
        async with read_connection(self._reads._reader) as connection:
            result = await connection.execute(self._statement, dict(parameters))
            if first:
                row = result.first()
                return [] if row is None else [tuple(row)]
            return [tuple(row) for row in result]

    def _processors(
        self, dialect: Dialect, wire_types: Sequence[Any] | None
    ) -> tuple[tuple[int, Processor], ...]:
        columns = list(self._statement.selected_columns)
        types = wire_types if wire_types is not None else [None] * len(columns)
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, wire_type)
            for column, wire_type in zip(columns, types, strict=True)
        )
        return tuple(
            (position, process)
            for position, process in enumerate(processors)
            if process is not None
        )


class _Postgres:
    """asyncpg prepared statements on the reader's own connections (:mod:`.read_connections`)."""

    def __init__(self, connections: ReadConnections) -> None:
        self.connections = connections
        self._prepared: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

    async def run(
        self, sql: str, arguments: tuple[Any, ...], *, first: bool
    ) -> tuple[Sequence[Any], Any]:
        """The raw rows and the prepared statement (which knows its column types)."""
        connections = self.connections
        connection = await connections.acquire()  # Unavailable if none can be had
        try:
            statements = self._prepared.get(connection)
            if statements is None:
                statements = self._prepared[connection] = {}
            prepared = statements.get(sql)
            if prepared is None:
                prepared = await _prepare(statements, connection, sql)
            try:
                rows = await _fetch(prepared, arguments, first)
            except asyncpg.exceptions.InvalidCachedStatementError:
                # The schema changed under the plan: prepare it again, once.
                prepared = await _prepare(statements, connection, sql)
                rows = await _fetch(prepared, arguments, first)
        except BaseException as error:
            lost = _lost(error, connection)
            if lost is None:
                # A statement error, or a cancellation (a deadline): the
                # connection is fine. asyncpg asks the server to cancel, and
                # the connection's next user waits until that is done.
                connections.release(connection)
                raise
            # Out of reach: never used again, not waited for, and every older
            # connection goes too, as the engine's pool does (see outages.py).
            connections.release(connection, reusable=False)
            connections.forget()
            raise lost from error
        connections.release(connection)
        return rows, prepared


async def connect_for_reads(dsn: str) -> Any:
    """One connection for :class:`ReadConnections`, decoding JSON as the engine's do."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        for kind in ("json", "jsonb"):
            await connection.set_type_codec(
                kind, schema="pg_catalog", encoder=str, decoder=decode_json, format="text"
            )
    except BaseException:
        connection.terminate()
        raise
    return connection


async def _prepare(statements: dict[str, Any], connection: Any, sql: str) -> Any:
    if len(statements) >= _MAX_PREPARED:
        statements.clear()
    prepared = statements[sql] = await connection.prepare(sql)
    return prepared


async def _fetch(prepared: Any, arguments: tuple[Any, ...], first: bool) -> Sequence[Any]:
    if first:
        row = await prepared.fetchrow(*arguments)
        return () if row is None else (row,)
    rows: Sequence[Any] = await prepared.fetch(*arguments)
    return rows


def _lost(error: BaseException, connection: Any) -> BaseException | None:
    """The outage ``error`` means, if any (see :func:`~kingdom.adapters.sql.outages.outage_for`)."""
    if not isinstance(error, Exception):
        return None
    closed = bool(getattr(connection, "is_closed", lambda: False)())
    return outage_for(error, disconnected=closed)


class _Sqlite:
    """One read-only :mod:`sqlite3` connection, used in the event loop's thread."""

    def __init__(self, path: Path) -> None:
        self._uri = f"{path.absolute().as_uri()}?mode=ro"
        self._connection: sqlite3.Connection | None = None

    def run(self, sql: str, arguments: tuple[Any, ...], *, first: bool) -> list[Any] | None:
        """The raw rows, or None when SQLite is busy (run it through the engine)."""
        try:
            connection = self._connection
            if connection is None:
                connection = self._connection = self._open()
            cursor = connection.execute(sql, arguments)
            try:
                if first:
                    row = cursor.fetchone()
                    return [] if row is None else [row]
                return cursor.fetchall()
            finally:
                cursor.close()  # ends the statement's read transaction
        except sqlite3.Error as error:
            name = getattr(error, "sqlite_errorname", "") or ""
            if name.startswith(_SQLITE_WAIT):
                return None
            lost = outage_for(error)
            if lost is None:
                raise
            self.close()  # reopened on the next read
            raise lost from error

    def _open(self) -> sqlite3.Connection:
        # Read-only, never creating the file; no waiting for locks (timeout=0);
        # autocommit: each statement is its own read transaction, one snapshot.
        connection = sqlite3.connect(
            self._uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA query_only = ON")
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


_READERS: weakref.WeakKeyDictionary[Database, DirectReads] = weakref.WeakKeyDictionary()


def direct_reads(database: Database) -> DirectReads:
    """The one :class:`DirectReads` of ``database`` (closed by ``database.dispose()``)."""
    reads = _READERS.get(database)
    if reads is None:
        reads = _READERS[database] = DirectReads(database)
        database.on_dispose.append(reads.close)
    return reads
