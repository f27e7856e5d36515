"""The ledger's refusals, each a stable subclass of the shared hierarchy.

Callers branch on the class (or its ``code``), never on the message, so the
classes are part of the API: a transfer refused for lack of funds is always an
:class:`InsufficientFunds`, which is always a ``Conflict``.
"""

from __future__ import annotations

from kingdom.domain.shared import Conflict, Invalid


class InsufficientFunds(Conflict):
    """A debit larger than the balance: the balance may never go negative."""

    def __init__(self, account_id: str, requested: int, available: int) -> None:
        super().__init__(f"account {account_id!r} has insufficient funds")
        self.account_id = account_id
        self.requested = requested
        self.available = available


class AccountClosedError(Conflict):
    """A closed account accepts no more movements and cannot be closed again."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id!r} is closed")
        self.account_id = account_id


class BalanceOverflow(Conflict):
    """A credit would push the balance past what a signed 64-bit column holds."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id!r} cannot hold a larger balance")
        self.account_id = account_id


class BalanceNotZero(Conflict):
    """Closing an account with money on it would make that money vanish."""

    def __init__(self, account_id: str, balance: int) -> None:
        super().__init__(f"account {account_id!r} can only be closed at a zero balance")
        self.account_id = account_id
        self.balance = balance


class CurrencyMismatch(Invalid):
    """Money moves only between accounts of one currency: there is no exchange rate here."""

    def __init__(self, source_currency: str, target_currency: str) -> None:
        super().__init__(
            f"cannot transfer between {source_currency} and {target_currency} accounts"
        )
        self.source_currency = source_currency
        self.target_currency = target_currency


class SameAccountTransfer(Invalid):
    """A transfer to itself would record movement where nothing moved."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"cannot transfer from account {account_id!r} to itself")
        self.account_id = account_id
