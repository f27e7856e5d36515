"""Read-side listings of accounts and transfers, straight from the tables.

The caller's accounts :class:`~kingdom.domain.access.ReadScope` is part of
every WHERE clause (its owner as the accounts of that owner). A transfer is visible when the caller may read either of
its accounts; that "either" is written as two disjoint branches (by source,
by target) rather than an OR, so each branch seeks on its own
``(account, occurred_at, id)`` index and a page costs the same at any depth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, RowMapping, exists, or_, select

from kingdom.adapters.ledger.tables import accounts, transfers
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import Branch, Keyset, Row, map_page, member_of
from kingdom.adapters.sql.scoped_listing import ScopedListing
from kingdom.adapters.sql.snapshot import read_connection
from kingdom.domain.access import ReadScope
from kingdom.services.ports.queries import (
    AccountQueries,
    AccountView,
    Page,
    PageRequest,
    TransferQueries,
    TransferView,
)

ACCOUNTS = Keyset("accounts", (accounts.c.id,), (str,))
"""Accounts by id."""

TRANSFERS = Keyset(
    "transfers", (transfers.c.occurred_at, transfers.c.id), (datetime, str), descending=True
)
"""Transfers newest first; the id orders transfers of the same instant."""

_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.owner_id,
    accounts.c.currency,
    accounts.c.balance,
    accounts.c.status,
    accounts.c.version,
)
_TRANSFER_COLUMNS = (
    transfers.c.id,
    transfers.c.source_id,
    transfers.c.target_id,
    transfers.c.amount,
    transfers.c.currency,
    transfers.c.occurred_at,
)


class SqlAccountQueries(ScopedListing[AccountView], AccountQueries):
    """Accounts sorted by id (totals when the request asks)."""

    def __init__(self, database: Database, codec: CursorCodec) -> None:
        super().__init__(
            database,
            codec,
            keyset=ACCOUNTS,
            id_column=accounts.c.id,
            owner_column=accounts.c.owner_id,
            columns=_ACCOUNT_COLUMNS,
            to_view=_account_view,
        )


class SqlTransferQueries(TransferQueries):
    """Transfers newest first (totals when the request asks).

    Cursors are bound to the ``account_id`` filter as well as the listing: a
    cursor from one account's history is refused by another's.
    """

    def __init__(self, database: Database, codec: CursorCodec) -> None:
        # Every read here is one statement: no transaction needed.
        self._engine = database.reader
        self._dialect = database.dialect
        self._codec = codec

    async def list(
        self, scope: ReadScope, page: PageRequest, account_id: str | None = None
    ) -> Page[TransferView]:
        listing = "transfers" if account_id is None else f"transfers/account={account_id}"
        pager = TRANSFERS.cursors(self._codec, listing)
        query = pager.query(page)
        branches = transfer_branches(scope, account_id, self._dialect)
        if not branches:
            return Page.empty()
        async with read_connection(self._engine) as connection:
            rows = await pager.fetch(
                connection,
                query,
                columns=_TRANSFER_COLUMNS,
                branches=branches,
                count_total=page.count_total,
            )
        return map_page(rows, _transfer_view)

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, TransferView]:
        wanted = list(dict.fromkeys(ids))
        if not wanted or scope.denied:
            return {}
        visible = (
            []
            if scope.all
            else [
                or_(
                    in_scope(transfers.c.source_id, scope, self._dialect),
                    in_scope(transfers.c.target_id, scope, self._dialect),
                )
            ]
        )
        async with read_connection(self._engine) as connection:
            result = await connection.execute(
                select(*_TRANSFER_COLUMNS).where(
                    member_of(transfers.c.id, wanted, self._dialect), *visible
                )
            )
            return {row["id"]: _transfer_view(row) for row in result.mappings()}


def transfer_branches(scope: ReadScope, account_id: str | None, dialect: str) -> list[Branch]:
    """Disjoint conditions whose union is "touches ``account_id`` and an account in scope"."""
    source, target = transfers.c.source_id, transfers.c.target_id
    if scope.denied:
        return []
    if account_id is None:
        if scope.all:
            return [[]]
        return [
            [in_scope(source, scope, dialect)],
            [in_scope(target, scope, dialect), ~in_scope(source, scope, dialect)],
        ]
    if scope.all or account_id in scope.ids:
        # `source != account` keeps the branches disjoint even for a
        # self-transfer row, which the domain never writes.
        return [[source == account_id], [target == account_id, source != account_id]]
    if scope.owner is not None:
        # Whether the caller owns the account itself, the accounts table says.
        owned = exists().where(accounts.c.id == account_id, accounts.c.owner_id == scope.owner)
        return [
            [source == account_id, or_(owned, in_scope(target, scope, dialect))],
            [
                target == account_id,
                source != account_id,
                or_(owned, in_scope(source, scope, dialect)),
            ],
        ]
    # The account itself is out of scope: only transfers whose other side is
    # in scope (which also keeps the two branches disjoint).
    return [
        [source == account_id, member_of(target, scope.ids, dialect)],
        [target == account_id, member_of(source, scope.ids, dialect)],
    ]


def in_scope(column: Column[Any], scope: ReadScope, dialect: str) -> ColumnElement[bool]:
    """The account id in ``column`` is in ``scope`` (its ids, or an account of its owner).

    ``scope`` must be neither denied nor everything. An owner becomes
    ``column IN (SELECT id FROM accounts WHERE owner_id = :owner)``: which
    accounts are the caller's, only the accounts table knows.
    """
    parts: list[ColumnElement[bool]] = []
    if scope.ids:
        parts.append(member_of(column, scope.ids, dialect))
    if scope.owner is not None:
        parts.append(column.in_(select(accounts.c.id).where(accounts.c.owner_id == scope.owner)))
    return or_(*parts)


def _account_view(row: Row) -> AccountView:
    """A row of :data:`_ACCOUNT_COLUMNS` (the status column's type gives the member)."""
    return AccountView(row[0], row[1], row[2], row[3], row[4], row[5])


def _transfer_view(row: RowMapping) -> TransferView:
    return TransferView(
        id=row["id"],
        source_id=row["source_id"],
        target_id=row["target_id"],
        amount=row["amount"],
        currency=row["currency"],
        occurred_at=row["occurred_at"],
    )
