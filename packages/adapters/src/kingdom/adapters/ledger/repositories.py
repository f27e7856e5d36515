"""SQL repositories of the ledger context, on the unit of work's transaction.

Accounts are loaded to be changed (every ledger command that loads one
writes it), so on PostgreSQL they are loaded ``FOR UPDATE``: the row is
locked from the load to the commit. Handlers load the accounts a command
touches in id order (see :mod:`kingdom.services.ledger.transfers`), so two
transfers over the same accounts queue on the first lock instead of
deadlocking or failing; together with READ COMMITTED (see
:mod:`kingdom.adapters.sql.engine`) the second one then reads the first's
committed balance and goes on. SQLite has one writer at a time anyway
(``BEGIN IMMEDIATE``) and renders no ``FOR UPDATE``.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from kingdom.adapters.ledger.tables import accounts as accounts_table
from kingdom.adapters.ledger.tables import transfers as transfers_table
from kingdom.adapters.sql.records import Rows, SqlTransaction
from kingdom.domain.ledger import Account, Transfer
from kingdom.services.ports import AccountRepository, Change, Tracker, TransferLog

# Built once: the compiled statement is then found by identity, not rebuilt per load.
_LOAD = (
    select(accounts_table).where(accounts_table.c.id == bindparam("account_id")).with_for_update()
)


class SqlAccountRepository(AccountRepository):
    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.rows = Rows(transaction, accounts_table, Account, self.noun, guard="version")
        self._load = _LOAD

    def changed(self, record: Account) -> bool:
        return self.rows.changed(record)

    def stored(self, record: Account) -> None:
        self.rows.stored(record)

    async def write(self, change: Change) -> None:
        await self.rows.write(change)

    async def _add(self, aggregate: Account) -> None:
        pass  # inserted at commit

    async def _find(self, id: str) -> Account | None:
        result = await self.rows.transaction.execute(self._load, {"account_id": id})
        return self.rows.build(result.one_or_none())


class SqlTransferLog(TransferLog):
    """Transfers are frozen values: appended with a Core INSERT at commit, never loaded here."""

    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.rows = Rows(transaction, transfers_table, Transfer, self.noun, guard="id")

    async def write(self, change: Change) -> None:
        await self.rows.write(change)
