"""The ledger command handlers, one plain async function per command."""

from __future__ import annotations

from collections.abc import Mapping

from kingdom.domain.ledger import CloseAccount, Deposit, OpenAccount, TransferFunds, Withdraw
from kingdom.domain.shared import Command
from kingdom.services.injection import Handler
from kingdom.services.ledger.accounts import close_account, deposit, open_account, withdraw
from kingdom.services.ledger.transfers import transfer_funds

COMMAND_HANDLERS: Mapping[type[Command], Handler] = {
    OpenAccount: open_account,
    Deposit: deposit,
    Withdraw: withdraw,
    TransferFunds: transfer_funds,
    CloseAccount: close_account,
}

__all__ = [
    "COMMAND_HANDLERS",
    "close_account",
    "deposit",
    "open_account",
    "transfer_funds",
    "withdraw",
]
