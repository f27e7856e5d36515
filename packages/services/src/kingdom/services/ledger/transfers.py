"""Moving money between two accounts in one transaction."""

from __future__ import annotations

from kingdom.domain.access import Permission
from kingdom.domain.ledger import Account, TransferFunds, transfer
from kingdom.services.ledger.accounts import account_to_change, precheck_account
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork
from kingdom.services.versions import ensure_version


async def transfer_funds(
    command: TransferFunds, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> str:
    """Transfer ``amount`` from source to target; returns the transfer's id.

    Needs ``accounts:UPDATE`` on the source only (its own grant, "*", or
    ``"@own"`` when the caller owns it): paying into an account is not a
    power over it, or nobody could pay anyone else. ``expected_version``
    guards the source, whose balance the client checked.
    """
    precheck_account(command.actor, command.source_id, Permission.UPDATE)
    async with uow:
        # Always load in id order: a database adapter locks rows as it loads
        # them, and two opposite transfers locking in opposite orders would
        # deadlock. The source is authorized as it loads (its owner decides).
        loaded: dict[str, Account] = {}
        for account_id in sorted({command.source_id, command.target_id}):
            if account_id == command.source_id:
                loaded[account_id] = await account_to_change(
                    uow, command.actor, account_id, Permission.UPDATE
                )
            else:
                loaded[account_id] = await uow.accounts.get(account_id)
        source, target = loaded[command.source_id], loaded[command.target_id]
        ensure_version(source, command.expected_version, "account")
        record = transfer(
            id=ids.new_id(),
            source=source,
            target=target,
            amount=command.amount,
            meta=new_meta(clock, ids),
        )
        await uow.transfers.add(record)
        await uow.commit()
    return record.id
