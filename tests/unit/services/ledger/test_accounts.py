from __future__ import annotations

from typing import Self

import pytest

from kingdom.domain.access import Actor, Permission, Policy
from kingdom.domain.ledger import (
    AccountClosed,
    AccountOpened,
    AccountStatus,
    BalanceNotZero,
    CloseAccount,
    Deposit,
    FundsDeposited,
    FundsWithdrawn,
    InsufficientFunds,
    OpenAccount,
    Withdraw,
)
from kingdom.domain.shared import Conflict, Forbidden, Invalid, NotFound
from kingdom.services.fakes import FakeApp, actor, superuser
from kingdom.services.fakes.unit_of_work import FakeUnitOfWork
from kingdom.services.ledger.accounts import deposit
from kingdom.services.ports import ConcurrencyConflict
from kingdom.services.versions import StaleVersion


async def open_for(app: FakeApp, owner: str, who: Actor | None = None) -> str:
    account_id: str = await app.bus.handle(
        OpenAccount(meta=app.meta(), actor=who or superuser(), owner_id=owner, currency="EUR")
    )
    return account_id


async def arrange(balance: int = 0) -> tuple[FakeApp, str]:
    app = FakeApp()
    ann = await app.register("ann@example.org")
    account_id = await open_for(app, ann)
    if balance:
        await app.bus.handle(
            Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=balance)
        )
    return app, account_id


def updater(account_id: str) -> Actor:
    return actor(Policy.of("accounts", Permission.UPDATE, account_id))


async def test_opening_an_account_for_an_existing_user():
    app = FakeApp()
    ann = await app.register("ann@example.org")

    account_id = await open_for(app, ann, actor(Policy.of("accounts", Permission.CREATE)))

    account = app.store.accounts[account_id]
    assert (account.owner_id, account.currency, account.balance) == (ann, "EUR", 0)
    assert (account.status, account.version) == (AccountStatus.OPEN, 1)
    assert isinstance(app.store.outbox[-1], AccountOpened)


async def test_opening_needs_accounts_create_on_every_account():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    with pytest.raises(Forbidden):
        await open_for(app, ann, actor(Policy.of("accounts", Permission.CREATE, "acc-1")))
    assert app.store.accounts == {}


async def test_an_account_needs_an_existing_owner_and_a_currency_code():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    with pytest.raises(NotFound):
        await open_for(app, "ghost")
    with pytest.raises(Invalid):
        await app.bus.handle(
            OpenAccount(meta=app.meta(), actor=superuser(), owner_id=ann, currency="euro")
        )
    assert app.store.accounts == {}


async def test_deposit_and_withdraw_with_a_grant_on_that_account_only():
    app, account_id = await arrange()
    who = updater(account_id)

    await app.bus.handle(Deposit(meta=app.meta(), actor=who, account_id=account_id, amount=100))
    await app.bus.handle(Withdraw(meta=app.meta(), actor=who, account_id=account_id, amount=30))

    assert app.store.accounts[account_id].balance == 70
    assert [type(e) for e in app.store.outbox[-2:]] == [FundsDeposited, FundsWithdrawn]


@pytest.mark.parametrize("command", [Deposit, Withdraw])
async def test_movements_on_an_account_you_hold_no_grant_on_are_forbidden(command):
    app, account_id = await arrange(balance=50)
    for who in (updater("other"), actor(Policy.of("accounts", Permission.READ))):
        with pytest.raises(Forbidden):
            await app.bus.handle(
                command(meta=app.meta(), actor=who, account_id=account_id, amount=1)
            )
    assert app.store.accounts[account_id].balance == 50


@pytest.mark.parametrize("command", [Deposit, Withdraw])
async def test_a_stale_expected_version_is_a_conflict_and_changes_nothing(command):
    app, account_id = await arrange(balance=50)
    version = app.store.accounts[account_id].version

    with pytest.raises(StaleVersion) as raised:
        await app.bus.handle(
            command(
                meta=app.meta(),
                actor=superuser(),
                account_id=account_id,
                amount=1,
                expected_version=version - 1,
            )
        )
    assert isinstance(raised.value, Conflict)
    assert not isinstance(raised.value, ConcurrencyConflict)  # not retried: the client must look
    assert app.store.accounts[account_id].balance == 50

    await app.bus.handle(
        command(
            meta=app.meta(),
            actor=superuser(),
            account_id=account_id,
            amount=1,
            expected_version=version,
        )
    )
    assert app.store.accounts[account_id].version == version + 1


async def test_overdrawing_is_refused():
    app, account_id = await arrange(balance=10)
    with pytest.raises(InsufficientFunds):
        await app.bus.handle(
            Withdraw(meta=app.meta(), actor=superuser(), account_id=account_id, amount=11)
        )
    assert app.store.accounts[account_id].balance == 10


async def test_invalid_amounts_and_missing_accounts():
    app, account_id = await arrange()
    with pytest.raises(Invalid):
        await app.bus.handle(
            Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=0)
        )
    with pytest.raises(NotFound):
        await app.bus.handle(Deposit(meta=app.meta(), actor=superuser(), account_id="x", amount=1))


async def test_closing_needs_delete_a_zero_balance_and_the_current_version():
    app, account_id = await arrange(balance=5)

    def close(who: Actor, expected: int | None = None) -> CloseAccount:
        return CloseAccount(
            meta=app.meta(), actor=who, account_id=account_id, expected_version=expected
        )

    with pytest.raises(Forbidden):
        await app.bus.handle(close(updater(account_id)))
    with pytest.raises(BalanceNotZero):
        await app.bus.handle(close(superuser()))
    await app.bus.handle(
        Withdraw(meta=app.meta(), actor=superuser(), account_id=account_id, amount=5)
    )
    with pytest.raises(StaleVersion):
        await app.bus.handle(close(superuser(), expected=0))

    await app.bus.handle(close(actor(Policy.of("accounts", Permission.DELETE, account_id))))

    assert app.store.accounts[account_id].status is AccountStatus.CLOSED
    assert isinstance(app.store.outbox[-1], AccountClosed)


async def test_a_transient_conflict_is_retried_by_the_bus_then_surfaces():
    app, account_id = await arrange()
    app.store.conflicts_to_raise = 2
    await app.bus.handle(
        Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=1)
    )
    assert app.store.accounts[account_id].balance == 1

    app.store.conflicts_to_raise = app.retry.attempts
    with pytest.raises(ConcurrencyConflict):
        await app.bus.handle(
            Deposit(meta=app.meta(), actor=superuser(), account_id=account_id, amount=1)
        )
    assert app.store.accounts[account_id].balance == 1


# Ownership: "@own" grants reach the caller's own accounts only.

OWN_ACCOUNTS = Policy.of("accounts", Permission.ALL, "@own")


async def test_an_owner_opens_and_uses_its_own_accounts_with_own_grants():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    me = actor(OWN_ACCOUNTS, user_id=ann)

    account_id = await open_for(app, ann, me)
    await app.bus.handle(Deposit(meta=app.meta(), actor=me, account_id=account_id, amount=500))
    await app.bus.handle(Withdraw(meta=app.meta(), actor=me, account_id=account_id, amount=500))
    await app.bus.handle(CloseAccount(meta=app.meta(), actor=me, account_id=account_id))

    account = app.store.accounts[account_id]
    assert (account.owner_id, account.balance, account.status) == (ann, 0, AccountStatus.CLOSED)


async def test_own_grants_open_no_account_for_someone_else():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    bob = await app.register("bob@example.org")

    with pytest.raises(Forbidden):
        await open_for(app, bob, actor(OWN_ACCOUNTS, user_id=ann))
    assert app.store.accounts == {}


@pytest.mark.parametrize("command", [Deposit, Withdraw])
async def test_own_grants_do_not_reach_someone_elses_account(command):
    app, account_id = await arrange(balance=100)  # ann's
    bob = await app.register("bob@example.org")
    before = app.store.accounts[account_id].version

    with pytest.raises(Forbidden):
        await app.bus.handle(
            command(
                meta=app.meta(),
                actor=actor(OWN_ACCOUNTS, user_id=bob),
                account_id=account_id,
                amount=10,
            )
        )
    assert app.store.accounts[account_id].version == before


async def test_a_missing_account_is_forbidden_to_an_owner_and_not_found_to_an_administrator():
    # Otherwise "@own" (which every user holds) would tell which account ids exist.
    app = FakeApp()
    ann = await app.register("ann@example.org")

    with pytest.raises(Forbidden):
        await app.bus.handle(
            Deposit(
                meta=app.meta(), actor=actor(OWN_ACCOUNTS, user_id=ann), account_id="x", amount=1
            )
        )
    with pytest.raises(NotFound):
        await app.bus.handle(Deposit(meta=app.meta(), actor=superuser(), account_id="x", amount=1))


class NeverOpened(FakeUnitOfWork):
    """A unit of work that fails the test if a handler opens it."""

    async def __aenter__(self) -> Self:
        raise AssertionError("the unit of work was opened")


async def test_a_caller_no_owner_could_allow_is_refused_before_any_unit_of_work():
    app, account_id = await arrange(balance=100)
    uow = NeverOpened(app.store)
    command = Deposit(meta=app.meta(), actor=actor(), account_id=account_id, amount=1)

    with pytest.raises(Forbidden):
        await deposit(command, uow=uow, clock=app.clock, ids=app.ids)
