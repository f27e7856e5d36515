"""Facts the ledger records. Balances in events are the balance *after* the change."""

from __future__ import annotations

from dataclasses import dataclass

from kingdom.domain.shared import Event


@dataclass(frozen=True, kw_only=True)
class AccountOpened(Event):
    account_id: str
    owner_id: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class FundsDeposited(Event):
    account_id: str
    amount: int
    balance: int


@dataclass(frozen=True, kw_only=True)
class FundsWithdrawn(Event):
    account_id: str
    amount: int
    balance: int


@dataclass(frozen=True, kw_only=True)
class TransferCompleted(Event):
    """One event per transfer (recorded by the source): a transfer is one fact, not two."""

    transfer_id: str
    source_id: str
    target_id: str
    amount: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class AccountClosed(Event):
    account_id: str
