"""Moving money between two accounts in one transaction."""

from __future__ import annotations

from kingdom.domain.access import Permission, authorize
from kingdom.domain.ledger import TransferFunds, transfer
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, UnitOfWork
from kingdom.services.resources import ACCOUNTS
from kingdom.services.versions import ensure_version


async def transfer_funds(
    command: TransferFunds, uow: UnitOfWork, clock: Clock, ids: IdGenerator
) -> str:
    """Transfer ``amount`` from source to target; returns the transfer's id.

    Needs ``accounts:UPDATE`` on the source only: paying into an account is
    not a power over it, or nobody could pay anyone else.
    ``expected_version`` guards the source, whose balance the client checked.
    """
    authorize(command.actor.context, ACCOUNTS, Permission.UPDATE, command.source_id)
    async with uow:
        # Always load in id order: a database adapter locks rows as it loads
        # them, and two opposite transfers locking in opposite orders would
        # deadlock.
        loaded = {
            account_id: await uow.accounts.get(account_id)
            for account_id in sorted({command.source_id, command.target_id})
        }
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
