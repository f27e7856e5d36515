"""One table, listed and looked up by id, within the caller's read scope.

Users, roles and accounts are read the same way: a keyset page whose WHERE
clause carries the scope, and a batch lookup by ids (for DataLoaders) that
drops the ids out of scope. Only the columns and the row-to-view mapping
differ, and users add their role codes; those are the hooks.

A scope's ``owner`` (the caller, through an ``"@own"`` grant) becomes
``owner_column = :scope_owner``: ``accounts.owner_id``, ``users.id`` (a user
owns itself); a table without owners (roles) ignores it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, ColumnElement, Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import KeyedColumnElement

from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.direct_reads import DirectStatement, direct_reads
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import (
    Branch,
    Keyset,
    PageQuery,
    Row,
    allowed_ids,
    member_of_parameter,
    snapshot_reads,
)
from kingdom.adapters.sql.snapshot import read_connection
from kingdom.domain.access import ReadScope
from kingdom.services.ports.queries import Edge, Page, PageRequest

V = TypeVar("V")


class ScopedListing(Generic[V]):
    """``list`` and ``by_ids`` over one table whose scope selector is its id column.

    A page (with its flags and total) or a batch lookup is one statement, run
    on the database's ``reader`` without a transaction; a page is run straight
    on the driver (:mod:`~kingdom.adapters.sql.direct_reads`). A subclass whose views
    need more rows (:meth:`_details`) reads them on the same connection, in
    one snapshot, when asked to (``details=True``).
    """

    def __init__(
        self,
        database: Database,
        codec: CursorCodec,
        *,
        keyset: Keyset,
        id_column: Column[Any],
        owner_column: Column[Any] | None,
        columns: Sequence[KeyedColumnElement[Any]],
        to_view: Callable[[Row], V],
    ) -> None:
        """``to_view`` reads a row by position: ``columns`` in their order (and perhaps more after)."""
        self._reader = database.reader
        self._snapshot = snapshot_reads(database)
        self._dialect = database.dialect
        self._pager = keyset.cursors(codec)
        self._id = id_column
        self._owner = owner_column
        self._columns = tuple(columns)
        self._id_at = [column.key for column in self._columns].index(id_column.key)
        self._layout = self._pager.layout(self._columns)
        self._to_view = to_view
        # Statements are built once (pages: once per shape), not per request:
        # building one costs more CPU than the database spends answering it.
        self._templates: dict[tuple[bool, ...], Select[Any]] = {}
        self._direct = direct_reads(database)
        self._direct_templates: dict[tuple[bool, ...], DirectStatement] = {}
        self._by_ids_statement = select(*self._columns).where(
            member_of_parameter(id_column, self._dialect)
        )
        self._by_ids_owned_statement = self._by_ids_statement.where(
            *self._scope_filter(ids=True, owner=True)
        )
        self._direct_by_ids = self._direct.statement(self._by_ids_statement)
        self._direct_by_ids_owned = self._direct.statement(self._by_ids_owned_statement)

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[V]:
        return await self._list(scope, page, details=False)

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, V]:
        return await self._by_ids(scope, ids, details=False)

    async def _list(self, scope: ReadScope, page: PageRequest, *, details: bool) -> Page[V]:
        query = self._pager.query(page)  # a bad cursor fails before any I/O
        scope = self._ownable(scope)
        if scope.denied:
            return Page.empty()
        count_total = page.count_total
        arguments = {**self._pager.arguments(query), **_scope_arguments(scope)}
        if not details:
            # One statement, nothing more to read: straight on the driver.
            direct = self._direct_template(query, scope, count_total)
            found = await direct.all(arguments)
            return self._pager.page_of(
                query, found, self._layout, count_total=count_total, view=self._to_view
            )
        statement = self._template(query, scope, count_total)
        async with read_connection(self._snapshot) as connection:
            rows = await self._pager.run(
                connection,
                query,
                statement,
                arguments,
                columns=self._columns,
                count_total=count_total,
                view=_same,
            )
            views = await self._views(connection, rows.items, details)
        return Page(
            edges=tuple(Edge(e.cursor, view) for e, view in zip(rows.edges, views, strict=True)),
            has_next=rows.has_next,
            has_previous=rows.has_previous,
            total=rows.total,
        )

    def _direct_template(
        self, query: PageQuery, scope: ReadScope, count_total: bool
    ) -> DirectStatement:
        """:meth:`_template`, compiled once for the driver."""
        shape = self._shape(query, scope, count_total)
        statement = self._direct_templates.get(shape)
        if statement is None:
            statement = self._direct_templates[shape] = self._direct.statement(
                self._template(query, scope, count_total)
            )
        return statement

    @staticmethod
    def _shape(query: PageQuery, scope: ReadScope, count_total: bool) -> tuple[bool, ...]:
        ids, owner = not scope.all and bool(scope.ids), scope.owner is not None
        return (query.forward, query.key is not None, count_total, ids, owner)

    def _template(self, query: PageQuery, scope: ReadScope, count_total: bool) -> Select[Any]:
        """The page statement of this shape, the scope a parameter (``scope_ids``, ``scope_owner``)."""
        shape = self._shape(query, scope, count_total)
        ids, owner = shape[3], shape[4]
        statement = self._templates.get(shape)
        if statement is None:
            statement = self._templates[shape] = self._pager.template(
                forward=query.forward,
                keyed=query.key is not None,
                columns=self._columns,
                branch=self._scope_filter(ids=ids, owner=owner),
                count_total=count_total,
            )
        return statement

    def _scope_filter(self, *, ids: bool, owner: bool) -> Branch:
        """``id IN :scope_ids``, ``owner = :scope_owner``, both ORed, or nothing (all).

        Only what the scope holds is written: an owner alone stays a plain
        ``owner_id = :scope_owner``, which its index answers.
        """
        parts: list[ColumnElement[bool]] = []
        if ids:
            parts.append(member_of_parameter(self._id, self._dialect, "scope_ids"))
        if owner and self._owner is not None:
            parts.append(self._owner == bindparam("scope_owner"))
        return [or_(*parts)] if parts else []

    def _ownable(self, scope: ReadScope) -> ReadScope:
        """``scope`` without an owner if this table's rows have none (nothing is owned)."""
        if scope.owner is not None and self._owner is None:
            return ReadScope(all=False, ids=scope.ids)
        return scope

    async def _by_ids(
        self, scope: ReadScope, ids: Sequence[str], *, details: bool
    ) -> Mapping[str, V]:
        scope = self._ownable(scope)
        arguments: dict[str, Any]
        if scope.owner is None:
            # Ids decide alone: drop those out of scope before asking.
            wanted = allowed_ids(scope, ids)
            statement, arguments = self._by_ids_statement, {}
        else:
            # Whose a row is, only the row knows: the database filters.
            wanted = list(dict.fromkeys(ids))
            statement = self._by_ids_owned_statement
            arguments = {"scope_ids": sorted(scope.ids), "scope_owner": scope.owner}
        if not wanted:
            return {}
        arguments["ids"] = sorted(wanted)
        if not details:
            # One statement, nothing more to read: straight on the driver.
            direct = self._direct_by_ids if scope.owner is None else self._direct_by_ids_owned
            found = await direct.all(arguments)
            at = self._id_at
            return {row[at]: self._to_view(row) for row in found}
        async with read_connection(self._snapshot) as connection:
            result = await connection.execute(statement, arguments)
            rows = result.all()
            views = await self._views(connection, rows, details)
        return {row[self._id_at]: view for row, view in zip(rows, views, strict=True)}

    async def _views(
        self, connection: AsyncConnection, rows: Sequence[Row], details: bool
    ) -> Sequence[V]:
        if details:
            return await self._details(connection, rows)
        return [self._to_view(row) for row in rows]

    async def _details(self, connection: AsyncConnection, rows: Sequence[Row]) -> Sequence[V]:
        """The full views of ``rows``, reading more on ``connection`` (same snapshot)."""
        return [self._to_view(row) for row in rows]


def _same(row: Row) -> Row:
    return row


def _scope_arguments(scope: ReadScope) -> dict[str, Any]:
    """The values of :meth:`ScopedListing._scope_filter`'s parameters for ``scope``."""
    arguments: dict[str, Any] = {}
    if not scope.all and scope.ids:
        arguments["scope_ids"] = sorted(scope.ids)
    if scope.owner is not None:
        arguments["scope_owner"] = scope.owner
    return arguments
