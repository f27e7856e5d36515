"""The ledger: accounts with never-negative balances, and transfers between them."""

from kingdom.domain.ledger.account import Account, AccountStatus
from kingdom.domain.ledger.commands import (
    CloseAccount,
    Deposit,
    OpenAccount,
    TransferFunds,
    Withdraw,
)
from kingdom.domain.ledger.errors import (
    AccountClosedError,
    BalanceNotZero,
    BalanceOverflow,
    CurrencyMismatch,
    InsufficientFunds,
    SameAccountTransfer,
)
from kingdom.domain.ledger.events import (
    AccountClosed,
    AccountOpened,
    FundsDeposited,
    FundsWithdrawn,
    TransferCompleted,
)
from kingdom.domain.ledger.money import MAX_BALANCE, ensure_amount, ensure_currency
from kingdom.domain.ledger.transfer import Transfer, transfer

__all__ = [
    "MAX_BALANCE",
    "Account",
    "AccountClosed",
    "AccountClosedError",
    "AccountOpened",
    "AccountStatus",
    "BalanceNotZero",
    "BalanceOverflow",
    "CloseAccount",
    "CurrencyMismatch",
    "Deposit",
    "FundsDeposited",
    "FundsWithdrawn",
    "InsufficientFunds",
    "OpenAccount",
    "SameAccountTransfer",
    "Transfer",
    "TransferCompleted",
    "TransferFunds",
    "Withdraw",
    "ensure_amount",
    "ensure_currency",
    "transfer",
]
