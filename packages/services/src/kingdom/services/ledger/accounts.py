"""Single-account operations: open, deposit, withdraw, close.

Movements need UPDATE on the account; closing needs DELETE (an account is
never erased, so closing is how it ends). Each honours the client's
``expected_version``: a client that saw an older account gets a Conflict and
must look again, rather than act on a balance that is no longer there.
"""

from __future__ import annotations

from kingdom.domain.access import Permission, authorize
from kingdom.domain.ledger import Account, CloseAccount, Deposit, OpenAccount, Withdraw
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork
from kingdom.services.resources import ACCOUNTS
from kingdom.services.versions import ensure_version


async def open_account(
    command: OpenAccount, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> str:
    """Open an empty account for an existing user (needs ``accounts:CREATE`` on "*")."""
    authorize(command.actor.context, ACCOUNTS, Permission.CREATE)
    async with uow:
        await uow.users.get(command.owner_id)  # NotFound: no account without an owner
        account = Account.open(
            id=ids.new_id(),
            owner_id=command.owner_id,
            currency=command.currency,
            meta=new_meta(clock, ids),
        )
        await uow.accounts.add(account)
        await uow.commit()
    return account.id


async def deposit(command: Deposit, uow: UnitOfWork, clock: Clock, ids: IdGenerator) -> None:
    authorize(command.actor.context, ACCOUNTS, Permission.UPDATE, command.account_id)
    async with uow:
        account = await uow.accounts.get(command.account_id)
        ensure_version(account, command.expected_version, "account")
        account.deposit(command.amount, new_meta(clock, ids))
        await uow.commit()


async def withdraw(command: Withdraw, uow: UnitOfWork, clock: Clock, ids: IdGenerator) -> None:
    authorize(command.actor.context, ACCOUNTS, Permission.UPDATE, command.account_id)
    async with uow:
        account = await uow.accounts.get(command.account_id)
        ensure_version(account, command.expected_version, "account")
        account.withdraw(command.amount, new_meta(clock, ids))
        await uow.commit()


async def close_account(
    command: CloseAccount, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> None:
    authorize(command.actor.context, ACCOUNTS, Permission.DELETE, command.account_id)
    async with uow:
        account = await uow.accounts.get(command.account_id)
        ensure_version(account, command.expected_version, "account")
        account.close(new_meta(clock, ids))
        await uow.commit()
