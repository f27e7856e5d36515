"""Keyset (seek) pagination: one statement per page, the same cost at any depth.

A listing is sorted by a :class:`Keyset`, columns of one table that are
unique together. A page seeks past the cursor's key with a row-value
comparison (``(a, b) > (:a, :b)``) that an index on those columns answers
directly, so no row before the cursor is read or skipped: there is no OFFSET.

Each page is a single statement that returns, alongside the ``limit + 1``
rows that tell whether more lie ahead, whether any row lies on the other side
of the cursor (one index seek) and, if asked, the exact total. Being one
statement, all three come from the same snapshot, so the flags cannot
contradict the rows, and the database is asked once.

Filters come as *branches*: disjoint sets of conditions whose union is the
listing (one branch for most listings). With several, each branch seeks and
limits on its own index before the pages merge, which keeps "transfers from
or to these accounts" on the two account indexes instead of an OR that no
single index can serve in order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    JSON,
    Column,
    ColumnElement,
    Integer,
    RowMapping,
    Select,
    Table,
    any_,
    bindparam,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Row as SqlRow
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import KeyedColumnElement, UnaryExpression

from kingdom.adapters.sql.cursors import CursorCodec, CursorValue, KeyKinds
from kingdom.adapters.sql.engine import Database
from kingdom.domain.access import ReadScope
from kingdom.services.ports.queries import Direction, Edge, Page, PageRequest

T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R", bound=Sequence[Any])
V = TypeVar("V")


Branch = Sequence[ColumnElement[bool]]
"""Conditions ANDed together; a listing is the union of its (disjoint) branches."""

_OTHER_SIDE = "keyset_other_side"
_TOTAL = "keyset_total"

Row = Sequence[Any]
"""A page statement's row, read by position (see :class:`RowLayout`)."""


@dataclass(frozen=True)
class RowLayout:
    """Where a page statement puts what: the listing's columns first, in their order,
    then the keyset's columns that are not among them, then the two flags.

    Rows are read by position: a page's rows are turned into views without
    a mapping built per row.
    """

    key: tuple[int, ...]
    """The keyset's columns."""
    other_side: int
    total: int

    @classmethod
    def of(cls, keyset: Keyset, columns: Sequence[KeyedColumnElement[Any]]) -> RowLayout:
        keys = [column.key for column in _wanted(keyset, columns)]
        return cls(tuple(keys.index(c.key) for c in keyset.columns), len(keys), len(keys) + 1)


@dataclass(frozen=True)
class Keyset:
    """How a listing is sorted: ``columns`` of one table, unique together.

    ``listing`` names the listing in its cursors, so a cursor from one
    listing is refused by every other. ``kinds`` are the Python types of the
    columns, checked when a cursor is decoded. ``descending`` sorts every
    column the other way (newest first); "forward" always means "in the
    listing's order".
    """

    listing: str
    columns: tuple[Column[Any], ...]
    kinds: KeyKinds
    descending: bool = False

    def __post_init__(self) -> None:
        if not self.columns or len(self.columns) != len(self.kinds):
            raise ValueError("a keyset needs one kind per column, and at least one column")
        if len({column.table for column in self.columns}) != 1:
            raise ValueError("keyset columns must come from one table")

    @property
    def table(self) -> Table:
        table = self.columns[0].table
        assert isinstance(table, Table)
        return table

    def order(
        self, columns: Sequence[KeyedColumnElement[Any]], *, reverse: bool = False
    ) -> list[UnaryExpression[Any]]:
        """ORDER BY clauses for ``columns`` (these keyset columns, or a subquery's)."""
        descending = self.descending != reverse
        return [column.desc() if descending else column.asc() for column in columns]

    def literals(self, key: Sequence[CursorValue]) -> list[ColumnElement[Any]]:
        """``key`` as SQL values typed like the keyset's columns."""
        return [
            literal(value, type_=column.type)
            for value, column in zip(key, self.columns, strict=True)
        ]

    def parameters(self) -> list[ColumnElement[Any]]:
        """Bind parameters ``key_0``, ``key_1``… for a key given when the statement runs."""
        return [
            bindparam(f"key_{number}", type_=column.type)
            for number, column in enumerate(self.columns)
        ]

    def beyond(
        self, values: Sequence[ColumnElement[Any]], *, ahead: bool, inclusive: bool = False
    ) -> ColumnElement[bool]:
        """Rows after the key ``values`` in listing order (``ahead``) or before it."""
        increasing = ahead != self.descending
        left: ColumnElement[Any]
        right: ColumnElement[Any]
        if len(self.columns) == 1:
            left, right = self.columns[0], values[0]
        else:
            left, right = tuple_(*self.columns), tuple_(*values)
        if increasing:
            return left >= right if inclusive else left > right
        return left <= right if inclusive else left < right

    def cursors(self, codec: CursorCodec, listing: str | None = None) -> Pager:
        return Pager(self, codec, listing or self.listing)


@dataclass(frozen=True)
class PageQuery:
    """A validated page request: its direction, size and the cursor's decoded key."""

    request: PageRequest
    key: tuple[CursorValue, ...] | None

    @property
    def forward(self) -> bool:
        return self.request.direction is Direction.FORWARD


class Pager:
    """Runs a :class:`Keyset` listing page by page, with cursors signed by ``codec``."""

    def __init__(self, keyset: Keyset, codec: CursorCodec, listing: str) -> None:
        self.keyset = keyset
        self.listing = listing
        self._codec = codec
        self._layouts: dict[tuple[str, ...], RowLayout] = {}

    def query(self, request: PageRequest) -> PageQuery:
        """Validate ``request`` before any I/O: a bad cursor raises Invalid."""
        key = (
            None
            if request.cursor is None
            else self._codec.decode(self.listing, request.cursor, self.keyset.kinds)
        )
        return PageQuery(request, key)

    def cursor(self, row: Row, layout: RowLayout) -> str:
        return self._codec.encode(self.listing, tuple(row[at] for at in layout.key))

    def layout(self, columns: Sequence[KeyedColumnElement[Any]]) -> RowLayout:
        """Where this listing's page statements with ``columns`` put what (computed once)."""
        keys = tuple(column.key for column in columns)
        layout = self._layouts.get(keys)
        if layout is None:
            layout = self._layouts[keys] = RowLayout.of(self.keyset, columns)
        return layout

    async def fetch(
        self,
        connection: AsyncConnection,
        query: PageQuery,
        *,
        columns: Sequence[KeyedColumnElement[Any]],
        branches: Sequence[Branch],
        count_total: bool = False,
    ) -> Page[RowMapping]:
        """The page of rows (with ``columns``) that ``branches`` select, in listing order."""
        if not branches:
            return Page.empty()
        statement = self.statement(
            query, columns=columns, branches=branches, count_total=count_total
        )
        return await self.run(
            connection, query, statement, columns=columns, count_total=count_total, view=_mapping
        )

    async def run(
        self,
        connection: AsyncConnection,
        query: PageQuery,
        statement: Select[Any],
        parameters: dict[str, Any] | None = None,
        *,
        columns: Sequence[KeyedColumnElement[Any]],
        count_total: bool,
        view: Callable[[SqlRow[Any]], V],
    ) -> Page[V]:
        """The page that ``statement`` (from :meth:`statement` or :meth:`template` with
        ``columns``) returns, each row turned into its ``view``."""
        result = await connection.execute(statement, parameters)
        rows = result.all()
        return self.page_of(query, rows, self.layout(columns), count_total=count_total, view=view)

    def page_of(
        self,
        query: PageQuery,
        rows: Sequence[R],
        layout: RowLayout,
        *,
        count_total: bool,
        view: Callable[[R], V],
    ) -> Page[V]:
        """The page in the rows a page statement returned (however read: by position,
        as ``layout`` says), each row turned into its ``view`` as its edge is made."""
        other_side = bool(rows[0][layout.other_side]) if rows else False
        total = rows[0][layout.total] if rows and count_total else None
        key = layout.key[0]
        found = [row for row in rows if row[key] is not None]  # the outer join's NULLs
        limit = query.request.limit
        more = len(found) > limit
        if query.forward:
            found = found[:limit]
            has_next, has_previous = more, other_side
        else:
            found = found[len(found) - limit :] if more else found
            has_next, has_previous = other_side, more
        every, ends = query.request.edge_cursors, query.request.end_cursors
        last = len(found) - 1
        return Page(
            edges=tuple(
                Edge(
                    self.cursor(row, layout) if every or (ends and n in (0, last)) else "",
                    view(row),
                )
                for n, row in enumerate(found)
            ),
            has_next=has_next,
            has_previous=has_previous,
            total=None if total is None else int(total),
        )

    def statement(
        self,
        query: PageQuery,
        *,
        columns: Sequence[KeyedColumnElement[Any]],
        branches: Sequence[Branch],
        count_total: bool = False,
    ) -> Select[Any]:
        """SELECT flags.other_side, flags.total, page.* FROM flags LEFT JOIN page ON true."""
        key = None if query.key is None else self.keyset.literals(query.key)
        return self._statement(
            key,
            query.forward,
            query.request.limit + 1,
            columns=columns,
            branches=branches,
            count_total=count_total,
        )

    def template(
        self,
        *,
        forward: bool,
        keyed: bool,
        columns: Sequence[KeyedColumnElement[Any]],
        branch: Branch,
        count_total: bool,
    ) -> Select[Any]:
        """:meth:`statement` for one branch, built once and run with :meth:`arguments`.

        The key and the page size are bind parameters (so are the scope's ids,
        if ``branch`` uses :func:`member_of_parameter`): one statement serves
        every page of one shape.
        """
        key = self.keyset.parameters() if keyed else None
        return self._statement(
            key,
            forward,
            bindparam("fetch", type_=Integer()),
            columns=columns,
            branches=[branch],
            count_total=count_total,
        )

    def arguments(self, query: PageQuery) -> dict[str, Any]:
        """The parameters of a :meth:`template` for ``query``."""
        arguments: dict[str, Any] = {"fetch": query.request.limit + 1}
        for number, value in enumerate(query.key or ()):
            arguments[f"key_{number}"] = value
        return arguments

    def _statement(
        self,
        key: Sequence[ColumnElement[Any]] | None,
        forward: bool,
        fetch: int | ColumnElement[int],
        *,
        columns: Sequence[KeyedColumnElement[Any]],
        branches: Sequence[Branch],
        count_total: bool,
    ) -> Select[Any]:
        keyset = self.keyset
        wanted = _wanted(keyset, columns)
        # The page: rows beyond the cursor in the direction of travel, nearest first.
        seek = [] if key is None else [keyset.beyond(key, ahead=forward)]
        parts = [
            select(*wanted)
            .where(*branch, *seek)
            .order_by(*keyset.order(keyset.columns, reverse=not forward))
            .limit(fetch)
            for branch in branches
        ]
        if key is None and forward and not count_total and len(parts) == 1:
            # A first page without its total, the commonest: nothing lies behind
            # it and nothing is counted, so no flags row to join (on SQLite the
            # join costs a materialized page and a sort for nothing).
            return parts[0].add_columns(false().label(_OTHER_SIDE), null().label(_TOTAL))
        page = (
            parts[0].subquery("page")
            if len(parts) == 1
            else union_all(*(select(part.subquery()) for part in parts)).subquery("page")
        )
        # The other side: the cursor's own row and everything behind it. Not
        # an EXISTS: PostgreSQL drops ORDER BY from an EXISTS and may then
        # scan the heap for a match, which for time-ordered rows lie at its
        # far end. The nearest row behind the cursor, by index, costs a seek.
        other_side: ColumnElement[bool] = false()
        if key is not None:
            behind = keyset.beyond(key, ahead=not forward, inclusive=True)
            nearest = keyset.order(keyset.columns, reverse=forward)
            other_side = or_(
                *(
                    select(keyset.columns[0])
                    .where(*branch, behind)
                    .order_by(*nearest)
                    .limit(1)
                    .scalar_subquery()
                    .is_not(None)
                    for branch in branches
                )
            )
        total: ColumnElement[Any] = null()
        if count_total:
            for number, branch in enumerate(branches):
                count = select(func.count()).select_from(keyset.table).where(*branch)
                total = count.scalar_subquery() if number == 0 else total + count.scalar_subquery()
        flags = select(other_side.label(_OTHER_SIDE), total.label(_TOTAL)).subquery("flags")
        page_key = [page.c[column.key] for column in keyset.columns]
        return (
            select(*(page.c[c.key] for c in wanted), flags.c[_OTHER_SIDE], flags.c[_TOTAL])
            .select_from(flags.outerjoin(page, true()))
            .order_by(*keyset.order(page_key))
        )


def _wanted(
    keyset: Keyset, columns: Sequence[KeyedColumnElement[Any]]
) -> list[KeyedColumnElement[Any]]:
    """A page statement's columns: ``columns``, then the keyset's not among them."""
    chosen = {column.key for column in columns}
    return [*columns, *(c for c in keyset.columns if c.key not in chosen)]


def _mapping(row: SqlRow[Any]) -> RowMapping:
    return row._mapping


def snapshot_reads(database: Database) -> AsyncEngine:
    """The read engine, each connection's statements seeing one snapshot.

    A page is one statement, but a listing that loads related rows after it
    (a user's roles) needs them from the same moment. SQLite's deferred read
    transaction already is a snapshot; PostgreSQL needs REPEATABLE READ, and
    READ ONLY lets it skip the bookkeeping of a writer.
    """
    if database.dialect == "postgresql":
        return database.engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    return database.engine


def member_of(column: Column[Any], ids: Collection[str], dialect: str) -> ColumnElement[bool]:
    """``column IN ids``, as one array parameter on PostgreSQL.

    ``= ANY(:ids)`` is one statement whatever the number of ids, so the
    driver's prepared-statement cache is not churned by every scope size.
    """
    values = sorted(ids)
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def member_of_parameter(
    column: Column[Any], dialect: str, name: str = "ids"
) -> ColumnElement[bool]:
    """:func:`member_of` with the ids left to a parameter ``name``, given when it runs.

    A statement built with it can be built once, at start-up, instead of on
    every request; the ids are passed as ``{name: sorted(ids)}``. Either way
    the SQL is the same for any number of ids: an array on PostgreSQL, a JSON
    array SQLite unpacks (``json_each``) rather than an expanding ``IN (?, ?, …)``,
    which SQLAlchemy would rewrite, and SQLite compile, for every count.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    values = func.json_each(bindparam(name, type_=JSON())).table_valued("value")
    return column.in_(select(values.c.value))


def scoped(
    id_column: Column[Any],
    scope: ReadScope,
    dialect: str,
    owner_column: Column[Any] | None = None,
) -> list[Branch]:
    """A listing's single branch under ``scope``: no branch at all when it is denied.

    "All" adds no condition; a set of ids becomes ``id IN (...)`` and an
    owner ``owner_column = :owner`` (ORed) in the query itself, so pages stay
    full and totals count only visible rows. Without an ``owner_column`` the
    rows belong to nobody and an owner adds nothing.
    """
    parts: list[ColumnElement[bool]] = []
    if not scope.all and scope.ids:
        parts.append(member_of(id_column, scope.ids, dialect))
    if scope.owner is not None and owner_column is not None:
        parts.append(owner_column == scope.owner)
    if scope.all:
        return [[]]
    return [[or_(*parts)]] if parts else []


def allowed_ids(scope: ReadScope, ids: Iterable[str]) -> list[str]:
    """The distinct requested ids that ``scope`` allows by id alone, in request order.

    For batch lookups under a scope without an owner; whose a row is only the
    row knows, so an owner scope filters in the query instead.
    """
    return [i for i in dict.fromkeys(ids) if scope.allows(i)]


def map_page(page: Page[T], convert: Callable[[T], U]) -> Page[U]:
    """The same page with every node converted (rows to views)."""
    return Page(
        edges=tuple(Edge(edge.cursor, convert(edge.node)) for edge in page.edges),
        has_next=page.has_next,
        has_previous=page.has_previous,
        total=page.total,
    )
