import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from kingdom.domain.ledger import (
    MAX_BALANCE,
    Account,
    AccountClosedError,
    BalanceOverflow,
    CurrencyMismatch,
    InsufficientFunds,
    SameAccountTransfer,
    Transfer,
    TransferCompleted,
    transfer,
)
from kingdom.domain.shared import Conflict, Invalid, MessageMeta

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def meta(n: int = 1) -> MessageMeta:
    return MessageMeta(f"msg-{n}", T0)


def account(id: str, balance: int = 0, currency: str = "EUR", *, open: bool = True) -> Account:
    acc = Account.open(id=id, owner_id="user-1", currency=currency, meta=meta(0))
    if balance:
        acc.deposit(balance, meta(0))
    if not open:
        if balance:
            acc.withdraw(balance, meta(0))
        acc.close(meta(0))
    acc.pull_events()
    return acc


def snapshot(*accounts: Account) -> list[dict[str, Any]]:
    return [copy.deepcopy(vars(a)) | {"events": a.pending_events} for a in accounts]


def test_transfer_moves_the_amount_and_returns_the_record() -> None:
    source, target = account("a", 100), account("b", 5)

    result = transfer(id="t-1", source=source, target=target, amount=60, meta=meta())

    assert (source.balance, target.balance) == (40, 65)
    assert result == Transfer(
        id="t-1", source_id="a", target_id="b", amount=60, currency="EUR", occurred_at=T0
    )


def test_the_source_records_one_transfer_event_and_the_target_none() -> None:
    source, target = account("a", 100), account("b")

    transfer(id="t-1", source=source, target=target, amount=100, meta=meta(7))

    assert source.pull_events() == [
        TransferCompleted(
            meta=meta(7),
            transfer_id="t-1",
            source_id="a",
            target_id="b",
            amount=100,
            currency="EUR",
        )
    ]
    assert target.pull_events() == []


def test_a_transfer_is_a_value() -> None:
    record = Transfer("t-1", "a", "b", 1, "EUR", T0)
    with pytest.raises(AttributeError):
        record.amount = 2  # type: ignore[misc]
    assert record == Transfer("t-1", "a", "b", 1, "EUR", T0)


def _refused(
    error: type[Exception], source: Account, target: Account, amount: Any = 10, id: str = "t-1"
) -> Exception:
    before = snapshot(source, target)
    with pytest.raises(error) as raised:
        transfer(id=id, source=source, target=target, amount=amount, meta=meta())
    assert snapshot(source, target) == before
    return raised.value


def test_a_transfer_without_an_id_is_refused_and_changes_nothing() -> None:
    _refused(Invalid, account("a", 100), account("b"), id="")


@pytest.mark.parametrize("amount", [0, -1, True, 3.5, MAX_BALANCE + 1])
def test_an_invalid_amount_is_refused_and_changes_nothing(amount: Any) -> None:
    _refused(Invalid, account("a", 100), account("b"), amount=amount)


def test_a_transfer_to_the_same_account_is_refused_and_changes_nothing() -> None:
    source = account("a", 100)
    error = _refused(SameAccountTransfer, source, source)
    assert isinstance(error, Invalid)


def test_two_copies_of_one_account_count_as_the_same_account() -> None:
    _refused(SameAccountTransfer, account("a", 100), account("a", 100))


def test_a_transfer_between_currencies_is_refused_and_changes_nothing() -> None:
    error = _refused(CurrencyMismatch, account("a", 100, "EUR"), account("b", 0, "USD"))
    assert isinstance(error, Invalid)
    assert (error.source_currency, error.target_currency) == ("EUR", "USD")  # type: ignore[attr-defined]


def test_a_transfer_beyond_the_source_balance_is_refused_and_changes_nothing() -> None:
    error = _refused(InsufficientFunds, account("a", 9), account("b"), amount=10)
    assert isinstance(error, Conflict)


def test_a_transfer_from_a_closed_account_is_refused_and_changes_nothing() -> None:
    error = _refused(AccountClosedError, account("a", open=False), account("b", 100))
    assert error.account_id == "a"  # type: ignore[attr-defined]


def test_a_transfer_to_a_closed_account_is_refused_and_changes_nothing() -> None:
    error = _refused(AccountClosedError, account("a", 100), account("b", open=False))
    assert error.account_id == "b"  # type: ignore[attr-defined]


def test_a_transfer_that_would_overflow_the_target_is_refused_and_changes_nothing() -> None:
    error = _refused(BalanceOverflow, account("a", 100), account("b", MAX_BALANCE - 5))
    assert error.account_id == "b"  # type: ignore[attr-defined]


def test_pending_events_of_either_account_survive_a_refusal() -> None:
    source, target = account("a", 100), account("b")
    source.deposit(1, meta(1))
    target.deposit(1, meta(2))
    _refused(InsufficientFunds, source, target, amount=1000)
    assert len(source.pending_events) == len(target.pending_events) == 1
