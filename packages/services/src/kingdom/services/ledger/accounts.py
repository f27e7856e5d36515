"""Single-account operations: open, deposit, withdraw, close.

Movements need UPDATE on the account; closing needs DELETE (an account is
never erased, so closing is how it ends). Each honours the client's
``expected_version``: a client that saw an older account gets a Conflict and
must look again, rather than act on a balance that is no longer there.

Whose account it is counts: an ``"@own"`` grant reaches the caller's own
accounts, and only the loaded account says whose it is, so these handlers
authorize after loading (:func:`account_to_change`).
"""

from __future__ import annotations

from kingdom.domain.access import Actor, Permission, authorize, precheck
from kingdom.domain.ledger import Account, CloseAccount, Deposit, OpenAccount, Withdraw
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork
from kingdom.services.resources import ACCOUNTS
from kingdom.services.versions import ensure_version


async def account_to_change(
    uow: UnitOfWork, actor: Actor, account_id: str, action: Permission
) -> Account:
    """The account, loaded, once ``actor`` may ``action`` on it (as its owner, or by grant).

    A missing account is NotFound only to a caller whose grants would allow
    the action whoever owned it; anyone else gets the same AccessDenied as
    for someone else's account, so an ``"@own"`` grant cannot probe which
    account ids exist. Call :func:`precheck_account` before the unit of work
    opens, so a caller no owner would make allowed costs no transaction.
    """
    account = await uow.accounts.find(account_id)
    if account is None:
        authorize(actor.context, ACCOUNTS, action, account_id, caller=actor.user_id)
        return await uow.accounts.get(account_id)  # raises NotFound
    authorize(
        actor.context, ACCOUNTS, action, account.id, caller=actor.user_id, owner=account.owner_id
    )
    return account


def precheck_account(actor: Actor, account_id: str, action: Permission) -> None:
    """Refuse ``action`` on the account at once if no owner of it could make it allowed."""
    precheck(actor.context, ACCOUNTS, action, account_id, caller=actor.user_id)


async def open_account(
    command: OpenAccount, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> str:
    """Open an empty account for an existing user.

    Needs ``accounts:CREATE`` on "*", or on ``"@own"`` when the owner is the
    caller: a user may open accounts for itself, not for others.
    """
    actor = command.actor
    authorize(
        actor.context, ACCOUNTS, Permission.CREATE, caller=actor.user_id, owner=command.owner_id
    )
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
    precheck_account(command.actor, command.account_id, Permission.UPDATE)
    async with uow:
        account = await account_to_change(uow, command.actor, command.account_id, Permission.UPDATE)
        ensure_version(account, command.expected_version, "account")
        account.deposit(command.amount, new_meta(clock, ids))
        await uow.commit()


async def withdraw(command: Withdraw, uow: UnitOfWork, clock: Clock, ids: IdGenerator) -> None:
    precheck_account(command.actor, command.account_id, Permission.UPDATE)
    async with uow:
        account = await account_to_change(uow, command.actor, command.account_id, Permission.UPDATE)
        ensure_version(account, command.expected_version, "account")
        account.withdraw(command.amount, new_meta(clock, ids))
        await uow.commit()


async def close_account(
    command: CloseAccount, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> None:
    precheck_account(command.actor, command.account_id, Permission.DELETE)
    async with uow:
        account = await account_to_change(uow, command.actor, command.account_id, Permission.DELETE)
        ensure_version(account, command.expected_version, "account")
        account.close(new_meta(clock, ids))
        await uow.commit()
