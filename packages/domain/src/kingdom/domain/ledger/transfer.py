"""Moving money between two accounts as one all-or-nothing step.

A transfer changes two aggregates, so it is a function over both rather than a
method of either. Every rule is checked on both accounts before either balance
moves; the source records the single :class:`TransferCompleted` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kingdom.domain.ledger.account import Account
from kingdom.domain.ledger.errors import CurrencyMismatch, SameAccountTransfer
from kingdom.domain.ledger.events import TransferCompleted
from kingdom.domain.ledger.money import ensure_amount
from kingdom.domain.shared import Invalid, MessageMeta


@dataclass(frozen=True)
class Transfer:
    """The record of a completed transfer (a value: it never changes once made)."""

    id: str
    source_id: str
    target_id: str
    amount: int
    currency: str
    occurred_at: datetime


def transfer(
    *, id: str, source: Account, target: Account, amount: int, meta: MessageMeta
) -> Transfer:
    """Move ``amount`` from ``source`` to ``target``, or raise and change nothing.

    Rules, in the order they are checked: a valid id and amount; two distinct
    accounts; one currency; both open; enough funds in the source; room in the
    target.
    """
    if not id:
        raise Invalid("a transfer needs an id")
    ensure_amount(amount)
    if source is target or source.id == target.id:
        raise SameAccountTransfer(source.id)
    if source.currency != target.currency:
        raise CurrencyMismatch(source.currency, target.currency)
    source.check_withdrawal(amount)
    target.check_deposit(amount)

    source._debit(amount)
    target._credit(amount)
    source._record(
        TransferCompleted(
            meta=meta,
            transfer_id=id,
            source_id=source.id,
            target_id=target.id,
            amount=amount,
            currency=source.currency,
        )
    )
    return Transfer(
        id=id,
        source_id=source.id,
        target_id=target.id,
        amount=amount,
        currency=source.currency,
        occurred_at=meta.occurred_at,
    )
