"""Records as table rows with SQLAlchemy Core: one transaction, and a row mapper per table.

:class:`SqlTransaction` is the unit of work's write transaction, begun on
first use on ``database.writer`` (so at the configured isolation level on
PostgreSQL, with ``BEGIN IMMEDIATE`` on SQLite).

:class:`Rows` is what a repository needs to load and write its records: it
builds a record from a row (without calling ``__init__``: the domain's
constructors validate and record nothing, and attribute names are column
names), remembers the row as loaded, tells a changed record from an
unchanged one, and writes it back as a compare-and-set on a guard column:

    UPDATE accounts SET balance = :b, version = :seen + 1
    WHERE id = :id AND version = :seen

A row changed meanwhile matches nothing -> :class:`ConcurrencyConflict`.
The guard is ``version`` for aggregates; a plain record without a version
(a refresh session, a reset token) is compared on its whole row as loaded,
so a revocation or redemption that someone else made first is never
repeated, whatever the isolation level. Core rather than the ORM: no session to flush, snapshot or
rebuild, and a transfer costs the statements it needs and little Python.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import Executable, Insert, Result, Table, Update, bindparam, insert, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kingdom.adapters.sql.errors import translated_errors
from kingdom.services.ports import Change, ConcurrencyConflict

R = TypeVar("R")


class SqlTransaction:
    """One write transaction, begun on first use and ended once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        async with translated_errors():
            if self._connection is None:
                connection = await self._engine.connect()
                try:
                    await connection.begin()
                except BaseException:
                    await connection.close()
                    raise
                self._connection = connection
            return await self._connection.execute(statement, parameters)

    async def commit(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            async with translated_errors():
                await connection.commit()
        finally:
            await connection.close()

    async def rollback(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.rollback()
        finally:
            await connection.close()


_INSERTS: dict[Table, Insert] = {}
_UPDATES: dict[tuple[Table, str, tuple[str, ...]], Update] = {}
_KEYS: dict[Table, tuple[str, ...]] = {}


def _insert(table: Table) -> Insert:
    """``INSERT INTO table`` built once: the compiled form is then found by identity."""
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table)
    return statement


def _guarded_update(table: Table, guard: str, columns: tuple[str, ...]) -> Update:
    """``UPDATE table SET columns WHERE id = :w_id AND guard = :w_guard``, built once."""
    key = (table, guard, columns)
    statement = _UPDATES.get(key)
    if statement is None:
        statement = _UPDATES[key] = (
            update(table)
            .where(table.c.id == bindparam("w_id"), table.c[guard] == bindparam("w_guard"))
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
    return statement


def _column_keys(table: Table) -> tuple[str, ...]:
    keys = _KEYS.get(table)
    if keys is None:
        keys = _KEYS[table] = tuple(column.key for column in table.c)
    return keys


def _copied(value: Any) -> Any:
    # Sets (policies, role codes) are compared later: keep the loaded value apart.
    return set(value) if isinstance(value, set) else value


class Rows(Generic[R]):
    """One table's rows as records of ``cls``, remembered as loaded."""

    def __init__(
        self,
        transaction: SqlTransaction,
        table: Table,
        cls: type[R],
        noun: str,
        guard: str | None,
    ) -> None:
        """``guard``: the column an UPDATE compares with its loaded value; ``None``: all of them."""
        self.transaction = transaction
        self.table = table
        self.cls = cls
        self.noun = noun
        self.guard = guard
        self.keys = _column_keys(table)
        self.loaded: dict[str, dict[str, Any]] = {}

    def build(self, row: Row[Any] | None) -> R | None:
        """The record for ``row`` (the one built before, if this id was loaded already)."""
        if row is None:
            return None
        values = dict(row._mapping)
        record = self.cls.__new__(self.cls)
        record.__dict__.update(values)
        self.loaded.setdefault(values["id"], {k: _copied(v) for k, v in values.items()})
        return record

    def values(self, record: R) -> dict[str, Any]:
        return {key: getattr(record, key) for key in self.keys}

    def changed(self, record: R) -> bool:
        loaded = self.loaded.get(getattr(record, "id"))  # noqa: B009
        return loaded is None or self.values(record) != loaded

    def stored(self, record: R) -> None:
        values = self.values(record)
        self.loaded[values["id"]] = {k: _copied(v) for k, v in values.items()}

    async def write(self, change: Change) -> None:
        """INSERT a new record; UPDATE a loaded one if its guard column is as loaded."""
        values = self.values(change.record)
        if change.version is not None:
            values["version"] = change.version
        if change.new:
            await self.transaction.execute(_insert(self.table), values)
            return
        loaded = self.loaded[values["id"]]
        table = self.table
        changed = {k: v for k, v in values.items() if k != "id" and v != loaded[k]}
        if not changed:
            return
        if self.guard is not None and loaded[self.guard] is not None:
            # The usual case, as one statement compiled once per set of changed columns.
            parameters = {f"v_{name}": value for name, value in changed.items()}
            parameters["w_id"] = values["id"]
            parameters["w_guard"] = loaded[self.guard]
            statement = _guarded_update(table, self.guard, tuple(changed))
            result = await self.transaction.execute(statement, parameters)
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise ConcurrencyConflict(
                    f"{self.noun} {values['id']!r} was changed concurrently (stale {self.guard})"
                )
            return
        guarded = ["id", self.guard] if self.guard else list(loaded)
        # `column == None` renders IS NULL: a NULL loaded value is compared too.
        result = await self.transaction.execute(
            update(table)
            .where(*(table.c[name] == loaded[name] for name in guarded))
            .values(changed)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrencyConflict(
                f"{self.noun} {values['id']!r} was changed concurrently (stale {self.guard or 'row'})"
            )
