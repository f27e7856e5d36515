"""One table, listed and looked up by id, within the caller's read scope.

Users, roles and accounts are read the same way: a keyset page whose WHERE
clause carries the scope, and a batch lookup by ids (for DataLoaders) that
drops the ids out of scope. Only the columns and the row-to-view mapping
differ, and users add their role codes; those are the hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, RowMapping, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import (
    Keyset,
    PageQuery,
    allowed_ids,
    member_of_parameter,
    snapshot_reads,
)
from kingdom.domain.access import ReadScope
from kingdom.services.ports.queries import Edge, Page, PageRequest

V = TypeVar("V")


class ScopedListing(Generic[V]):
    """``list`` and ``by_ids`` over one table whose scope selector is its id column.

    A page (with its flags and total) or a batch lookup is one statement, run
    on the database's ``reader`` without a transaction. A subclass whose views
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
        columns: Sequence[Column[Any]],
        to_view: Callable[[RowMapping], V],
    ) -> None:
        self._reader = database.reader
        self._snapshot = snapshot_reads(database)
        self._dialect = database.dialect
        self._pager = keyset.cursors(codec)
        self._id = id_column
        self._columns = tuple(columns)
        self._to_view = to_view
        # Statements are built once (pages: once per shape), not per request:
        # building one costs more CPU than the database spends answering it.
        self._templates: dict[tuple[bool, bool, bool, bool], Select[Any]] = {}
        self._by_ids_statement = select(*self._columns).where(
            member_of_parameter(id_column, self._dialect)
        )

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[V]:
        return await self._list(scope, page, details=False)

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, V]:
        return await self._by_ids(scope, ids, details=False)

    async def _list(self, scope: ReadScope, page: PageRequest, *, details: bool) -> Page[V]:
        query = self._pager.query(page)  # a bad cursor fails before any I/O
        if scope.denied:
            return Page.empty()
        count_total = page.count_total
        statement = self._template(query, scope.all, count_total)
        arguments = self._pager.arguments(query)
        if not scope.all:
            arguments["scope_ids"] = sorted(scope.ids)
        async with (self._snapshot if details else self._reader).connect() as connection:
            rows = await self._pager.run(
                connection, query, statement, arguments, count_total=count_total
            )
            views = await self._views(connection, rows.items, details)
        return Page(
            edges=tuple(Edge(e.cursor, view) for e, view in zip(rows.edges, views, strict=True)),
            has_next=rows.has_next,
            has_previous=rows.has_previous,
            total=rows.total,
        )

    def _template(self, query: PageQuery, everything: bool, count_total: bool) -> Select[Any]:
        """The page statement of this shape, the scope's ids a parameter (``scope_ids``)."""
        shape = (query.forward, query.key is not None, count_total, everything)
        statement = self._templates.get(shape)
        if statement is None:
            branch = (
                [] if everything else [member_of_parameter(self._id, self._dialect, "scope_ids")]
            )
            statement = self._templates[shape] = self._pager.template(
                forward=query.forward,
                keyed=query.key is not None,
                columns=self._columns,
                branch=branch,
                count_total=count_total,
            )
        return statement

    async def _by_ids(
        self, scope: ReadScope, ids: Sequence[str], *, details: bool
    ) -> Mapping[str, V]:
        wanted = allowed_ids(scope, ids)
        if not wanted:
            return {}
        async with (self._snapshot if details else self._reader).connect() as connection:
            result = await connection.execute(self._by_ids_statement, {"ids": sorted(wanted)})
            rows = result.mappings().all()
            views = await self._views(connection, rows, details)
        return {row["id"]: view for row, view in zip(rows, views, strict=True)}

    async def _views(
        self, connection: AsyncConnection, rows: Sequence[RowMapping], details: bool
    ) -> Sequence[V]:
        if details:
            return await self._details(connection, rows)
        return [self._to_view(row) for row in rows]

    async def _details(
        self, connection: AsyncConnection, rows: Sequence[RowMapping]
    ) -> Sequence[V]:
        """The full views of ``rows``, reading more on ``connection`` (same snapshot)."""
        return [self._to_view(row) for row in rows]
