"""The account aggregate: one owner, one currency, a balance that is never negative.

Every operation checks everything first and only then changes state and
records its event, so a refused operation leaves the account (and its pending
events) exactly as it was.

State lives in plain attributes so an ORM can build an account without
calling ``__init__`` and set them directly.
"""

from __future__ import annotations

from enum import StrEnum

from kingdom.domain.ledger.errors import (
    AccountClosedError,
    BalanceNotZero,
    BalanceOverflow,
    InsufficientFunds,
)
from kingdom.domain.ledger.events import (
    AccountClosed,
    AccountOpened,
    FundsDeposited,
    FundsWithdrawn,
)
from kingdom.domain.ledger.money import MAX_BALANCE, ensure_amount, ensure_currency
from kingdom.domain.shared import Aggregate, Invalid, MessageMeta


class AccountStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Account(Aggregate):
    """A balance in integer minor units of one currency, owned by one user."""

    owner_id: str
    currency: str
    balance: int
    status: AccountStatus

    def __init__(
        self,
        *,
        id: str,
        owner_id: str,
        currency: str,
        balance: int = 0,
        status: AccountStatus = AccountStatus.OPEN,
        version: int = 0,
    ) -> None:
        """Rebuild an account as stored; records nothing (use :meth:`open` for a new one)."""
        super().__init__(id, version)
        self.owner_id = owner_id
        self.currency = currency
        self.balance = balance
        self.status = status

    @classmethod
    def open(cls, *, id: str, owner_id: str, currency: str, meta: MessageMeta) -> Account:
        """Open a new, empty account and record :class:`AccountOpened`."""
        if not id:
            raise Invalid("an account needs an id")
        if not owner_id:
            raise Invalid("an account needs an owner")
        account = cls(id=id, owner_id=owner_id, currency=ensure_currency(currency))
        account._record(
            AccountOpened(meta=meta, account_id=id, owner_id=owner_id, currency=currency)
        )
        return account

    @property
    def is_open(self) -> bool:
        return self.status == AccountStatus.OPEN

    def deposit(self, amount: int, meta: MessageMeta) -> None:
        """Credit ``amount``; refused on a closed account or past :data:`MAX_BALANCE`."""
        self.check_deposit(amount)
        self._credit(amount)
        self._record(
            FundsDeposited(meta=meta, account_id=self.id, amount=amount, balance=self.balance)
        )

    def withdraw(self, amount: int, meta: MessageMeta) -> None:
        """Debit ``amount``; refused on a closed account or beyond the balance."""
        self.check_withdrawal(amount)
        self._debit(amount)
        self._record(
            FundsWithdrawn(meta=meta, account_id=self.id, amount=amount, balance=self.balance)
        )

    def close(self, meta: MessageMeta) -> None:
        """Close an open account at zero balance, so no money disappears with it."""
        self._ensure_open()
        if self.balance != 0:
            raise BalanceNotZero(self.id, self.balance)
        self.status = AccountStatus.CLOSED
        self._record(AccountClosed(meta=meta, account_id=self.id))

    def check_deposit(self, amount: int) -> None:
        """Raise the error :meth:`deposit` would raise, changing nothing.

        Public so that an operation spanning two accounts (a transfer) can
        check both before it touches either.
        """
        ensure_amount(amount)
        self._ensure_open()
        if amount > MAX_BALANCE - self.balance:
            raise BalanceOverflow(self.id)

    def check_withdrawal(self, amount: int) -> None:
        """Raise the error :meth:`withdraw` would raise, changing nothing."""
        ensure_amount(amount)
        self._ensure_open()
        if amount > self.balance:
            raise InsufficientFunds(self.id, requested=amount, available=self.balance)

    # The two mutators below skip the checks and record nothing: they are for
    # this package only (deposit/withdraw above, and transfer(), which records
    # its own single event), always after the matching check_* call.

    def _credit(self, amount: int) -> None:
        self.balance = self.balance + amount

    def _debit(self, amount: int) -> None:
        self.balance = self.balance - amount

    def _ensure_open(self) -> None:
        if not self.is_open:
            raise AccountClosedError(self.id)
