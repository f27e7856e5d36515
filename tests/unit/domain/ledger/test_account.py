import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from kingdom.domain.ledger import (
    MAX_BALANCE,
    Account,
    AccountClosed,
    AccountClosedError,
    AccountOpened,
    AccountStatus,
    BalanceNotZero,
    BalanceOverflow,
    FundsDeposited,
    FundsWithdrawn,
    InsufficientFunds,
)
from kingdom.domain.shared import Conflict, ErrorCode, Invalid, MessageMeta

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def meta(n: int = 1) -> MessageMeta:
    return MessageMeta(f"msg-{n}", T0)


def snapshot(account: Account) -> dict[str, Any]:
    """Everything an operation could change, pending events included."""
    return copy.deepcopy(vars(account)) | {"events": account.pending_events}


def opened(balance: int = 0, currency: str = "EUR") -> Account:
    account = Account.open(id="acc-1", owner_id="user-1", currency=currency, meta=meta(0))
    if balance:
        account.deposit(balance, meta(0))
    account.pull_events()
    return account


def closed() -> Account:
    account = opened()
    account.close(meta(0))
    account.pull_events()
    return account


# -- open ---------------------------------------------------------------------


def test_open_creates_an_empty_open_account_and_records_it() -> None:
    account = Account.open(id="acc-1", owner_id="user-1", currency="EUR", meta=meta())

    assert (account.id, account.owner_id, account.currency) == ("acc-1", "user-1", "EUR")
    assert account.balance == 0
    assert account.status is AccountStatus.OPEN
    assert account.is_open
    assert account.version == 0
    assert account.pull_events() == [
        AccountOpened(meta=meta(), account_id="acc-1", owner_id="user-1", currency="EUR")
    ]


@pytest.mark.parametrize(
    ("id", "owner_id", "currency"),
    [("", "user-1", "EUR"), ("acc-1", "", "EUR"), ("acc-1", "user-1", "eur")],
)
def test_open_refuses_a_missing_id_or_owner_or_a_bad_currency(
    id: str, owner_id: str, currency: str
) -> None:
    with pytest.raises(Invalid):
        Account.open(id=id, owner_id=owner_id, currency=currency, meta=meta())


def test_the_constructor_rebuilds_a_stored_account_without_recording_anything() -> None:
    account = Account(
        id="acc-1",
        owner_id="user-1",
        currency="USD",
        balance=500,
        status=AccountStatus.CLOSED,
        version=7,
    )

    assert (account.balance, account.status, account.version) == (500, "closed", 7)
    assert account.pending_events == ()


def test_an_account_built_without_init_like_an_orm_does_still_works() -> None:
    account = Account.__new__(Account)
    account.id, account.version = "acc-9", 3
    account.owner_id, account.currency = "user-1", "EUR"
    account.balance, account.status = 10, AccountStatus.OPEN

    account.deposit(5, meta())
    account.withdraw(15, meta(2))
    account.close(meta(3))

    assert [type(e) for e in account.pull_events()] == [
        FundsDeposited,
        FundsWithdrawn,
        AccountClosed,
    ]
    assert account.status is AccountStatus.CLOSED


# -- deposit ------------------------------------------------------------------


def test_deposit_adds_to_the_balance_and_records_the_new_balance() -> None:
    account = opened(balance=100)

    account.deposit(250, meta(1))
    account.deposit(1, meta(2))

    assert account.balance == 351
    assert account.pull_events() == [
        FundsDeposited(meta=meta(1), account_id="acc-1", amount=250, balance=350),
        FundsDeposited(meta=meta(2), account_id="acc-1", amount=1, balance=351),
    ]


def test_deposit_up_to_the_maximum_balance_is_allowed() -> None:
    account = opened(balance=MAX_BALANCE - 1)
    account.deposit(1, meta())
    assert account.balance == MAX_BALANCE


@pytest.mark.parametrize("amount", [0, -5, True, 2.5, MAX_BALANCE + 1])
def test_deposit_of_an_invalid_amount_is_refused_and_changes_nothing(amount: Any) -> None:
    account = opened(balance=100)
    account.deposit(1, meta(1))  # a pending event that must survive the refusal
    before = snapshot(account)

    with pytest.raises(Invalid):
        account.deposit(amount, meta(2))

    assert snapshot(account) == before


def test_deposit_to_a_closed_account_is_a_conflict_and_changes_nothing() -> None:
    account = closed()
    before = snapshot(account)

    with pytest.raises(AccountClosedError) as raised:
        account.deposit(10, meta())

    assert isinstance(raised.value, Conflict)
    assert raised.value.code is ErrorCode.CONFLICT
    assert raised.value.account_id == "acc-1"
    assert snapshot(account) == before


def test_deposit_past_the_maximum_balance_is_refused_and_changes_nothing() -> None:
    account = opened(balance=MAX_BALANCE - 10)
    before = snapshot(account)

    with pytest.raises(BalanceOverflow) as raised:
        account.deposit(11, meta())

    assert isinstance(raised.value, Conflict)
    assert snapshot(account) == before


# -- withdraw -----------------------------------------------------------------


def test_withdraw_takes_from_the_balance_and_records_the_new_balance() -> None:
    account = opened(balance=100)

    account.withdraw(30, meta(1))
    account.withdraw(70, meta(2))

    assert account.balance == 0
    assert account.pull_events() == [
        FundsWithdrawn(meta=meta(1), account_id="acc-1", amount=30, balance=70),
        FundsWithdrawn(meta=meta(2), account_id="acc-1", amount=70, balance=0),
    ]


def test_withdrawing_more_than_the_balance_is_refused_and_changes_nothing() -> None:
    account = opened(balance=100)
    account.withdraw(1, meta(1))
    before = snapshot(account)

    with pytest.raises(InsufficientFunds) as raised:
        account.withdraw(100, meta(2))

    error = raised.value
    assert isinstance(error, Conflict)
    assert (error.account_id, error.requested, error.available) == ("acc-1", 100, 99)
    assert snapshot(account) == before


@pytest.mark.parametrize("amount", [0, -1, False, 1.0, MAX_BALANCE + 1])
def test_withdraw_of_an_invalid_amount_is_refused_and_changes_nothing(amount: Any) -> None:
    account = opened(balance=100)
    before = snapshot(account)

    with pytest.raises(Invalid):
        account.withdraw(amount, meta())

    assert snapshot(account) == before


def test_withdraw_from_a_closed_account_is_refused_and_changes_nothing() -> None:
    account = closed()
    before = snapshot(account)

    with pytest.raises(AccountClosedError):
        account.withdraw(1, meta())

    assert snapshot(account) == before


def test_an_invalid_amount_is_reported_before_the_closed_state() -> None:
    # Input errors first: the caller can fix them without knowing any state.
    with pytest.raises(Invalid):
        closed().withdraw(0, meta())


# -- close --------------------------------------------------------------------


def test_close_at_zero_balance_closes_and_records_it() -> None:
    account = opened(balance=40)
    account.withdraw(40, meta(1))
    account.pull_events()

    account.close(meta(2))

    assert account.status is AccountStatus.CLOSED
    assert not account.is_open
    assert account.pull_events() == [AccountClosed(meta=meta(2), account_id="acc-1")]


def test_close_with_money_left_is_refused_and_changes_nothing() -> None:
    account = opened(balance=1)
    before = snapshot(account)

    with pytest.raises(BalanceNotZero) as raised:
        account.close(meta())

    assert isinstance(raised.value, Conflict)
    assert raised.value.balance == 1
    assert snapshot(account) == before


def test_closing_twice_is_refused_and_changes_nothing() -> None:
    account = closed()
    before = snapshot(account)

    with pytest.raises(AccountClosedError):
        account.close(meta())

    assert snapshot(account) == before


# -- checks -------------------------------------------------------------------


def test_the_checks_raise_what_the_operations_would_but_change_nothing() -> None:
    account = opened(balance=10)
    before = snapshot(account)

    account.check_deposit(5)
    account.check_withdrawal(10)
    with pytest.raises(InsufficientFunds):
        account.check_withdrawal(11)
    with pytest.raises(BalanceOverflow):
        account.check_deposit(MAX_BALANCE)

    assert snapshot(account) == before
