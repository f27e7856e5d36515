"""SQL repositories of the ledger context, on the unit of work's ORM session."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kingdom.adapters.ledger.tables import transfers as transfers_table
from kingdom.adapters.sql.errors import translated_errors
from kingdom.domain.ledger import Account, Transfer
from kingdom.services.ports import AccountRepository, TransferLog


class SqlAccountRepository(AccountRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def _add(self, aggregate: Account) -> None:
        pass  # inserted by the unit of work at commit, after its owner

    async def _find(self, id: str) -> Account | None:
        async with translated_errors():
            return await self._session.get(Account, id)


class SqlTransferLog(TransferLog):
    """Stages transfers and appends them with a Core INSERT at commit.

    A transfer is a frozen value that is never changed or loaded back through
    the write model, so it is not ORM-mapped (see
    :mod:`kingdom.adapters.sql.mapping`).
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.staged: list[Transfer] = []

    async def add(self, transfer: Transfer) -> None:
        self.staged.append(transfer)

    async def write(self) -> None:
        """Insert the staged transfers (after the accounts they refer to were flushed)."""
        if self.staged:
            await self._session.execute(
                insert(transfers_table), [asdict(transfer) for transfer in self.staged]
            )

    def written(self) -> None:
        self.staged.clear()
