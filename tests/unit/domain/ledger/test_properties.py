"""Random sequences of ledger operations: balances never go negative, money is conserved."""

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kingdom.domain.ledger import (
    Account,
    AccountClosedError,
    BalanceNotZero,
    BalanceOverflow,
    CurrencyMismatch,
    InsufficientFunds,
    SameAccountTransfer,
    transfer,
)
from kingdom.domain.shared import DomainError, Invalid, MessageMeta

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNTS = ("a", "b", "c", "d")
CURRENCY = {"a": "EUR", "b": "EUR", "c": "EUR", "d": "USD"}

amounts = st.integers(min_value=-5, max_value=1_000)
account_ids = st.sampled_from(ACCOUNTS)


class Ledger(RuleBasedStateMachine):
    """Deposits, withdrawals, transfers and closes in any order, legal or not."""

    def __init__(self) -> None:
        super().__init__()
        self.counter = 0
        self.accounts = {
            id: Account.open(id=id, owner_id="u", currency=CURRENCY[id], meta=self.meta())
            for id in ACCOUNTS
        }
        self.deposited = dict.fromkeys(CURRENCY.values(), 0)
        self.withdrawn = dict.fromkeys(CURRENCY.values(), 0)

    def meta(self) -> MessageMeta:
        self.counter += 1
        return MessageMeta(f"m-{self.counter}", T0)

    def state(self) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(vars(a)) | {"events": a.pending_events} for a in self.accounts.values()
        ]

    def attempt(self, operation: Any, *allowed: type[DomainError]) -> None:
        """Run ``operation``; a refusal must be one of ``allowed`` and change nothing.

        Any other exception (another DomainError included) fails the test.
        """
        before = self.state()
        try:
            operation()
        except allowed:
            assert self.state() == before

    @rule(id=account_ids, amount=amounts)
    def deposit(self, id: str, amount: int) -> None:
        account = self.accounts[id]

        def run() -> None:
            account.deposit(amount, self.meta())
            self.deposited[account.currency] += amount

        self.attempt(run, Invalid, AccountClosedError, BalanceOverflow)

    @rule(id=account_ids, amount=amounts)
    def withdraw(self, id: str, amount: int) -> None:
        account = self.accounts[id]

        def run() -> None:
            account.withdraw(amount, self.meta())
            self.withdrawn[account.currency] += amount

        self.attempt(run, Invalid, AccountClosedError, InsufficientFunds)

    # ("target" is a reserved argument name of @rule.)
    @rule(source_id=account_ids, target_id=account_ids, amount=amounts)
    def move(self, source_id: str, target_id: str, amount: int) -> None:
        self.attempt(
            lambda: transfer(
                id=f"t-{self.counter}",
                source=self.accounts[source_id],
                target=self.accounts[target_id],
                amount=amount,
                meta=self.meta(),
            ),
            Invalid,  # bad amount, same account, currency mismatch
            AccountClosedError,
            InsufficientFunds,
            BalanceOverflow,
        )

    @rule(id=account_ids)
    def close(self, id: str) -> None:
        self.attempt(
            lambda: self.accounts[id].close(self.meta()), BalanceNotZero, AccountClosedError
        )

    @invariant()
    def balances_are_never_negative(self) -> None:
        assert all(a.balance >= 0 for a in self.accounts.values())

    @invariant()
    def money_is_conserved_per_currency(self) -> None:
        for currency in set(CURRENCY.values()):
            total = sum(a.balance for a in self.accounts.values() if a.currency == currency)
            assert total == self.deposited[currency] - self.withdrawn[currency]

    @invariant()
    def only_open_accounts_or_empty_closed_ones(self) -> None:
        assert all(a.is_open or a.balance == 0 for a in self.accounts.values())


Ledger.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestLedger = Ledger.TestCase


@given(
    start=st.integers(min_value=0, max_value=10_000),
    amount=st.integers(min_value=1, max_value=20_000),
)
def test_a_transfer_either_moves_exactly_the_amount_or_nothing(start: int, amount: int) -> None:
    meta = MessageMeta("m", T0)
    source = Account(id="a", owner_id="u", currency="EUR", balance=start)
    target = Account(id="b", owner_id="u", currency="EUR", balance=7)
    try:
        transfer(id="t", source=source, target=target, amount=amount, meta=meta)
    except InsufficientFunds:
        assert amount > start
        assert (source.balance, target.balance) == (start, 7)
    else:
        assert amount <= start
        assert (source.balance, target.balance) == (start - amount, 7 + amount)


def test_transfer_refusals_the_state_machine_allows_as_invalid_really_are_invalid() -> None:
    assert issubclass(CurrencyMismatch, Invalid)
    assert issubclass(SameAccountTransfer, Invalid)
