from __future__ import annotations

import pytest

from kingdom.domain.access import Actor, Permission, Policy
from kingdom.domain.ledger import (
    Account,
    CurrencyMismatch,
    InsufficientFunds,
    SameAccountTransfer,
    TransferCompleted,
    TransferFunds,
)
from kingdom.domain.shared import Forbidden, NotFound
from kingdom.services.fakes import (
    FakeAccountRepository,
    FakeApp,
    FakeUnitOfWork,
    InMemoryStore,
    actor,
    superuser,
)
from kingdom.services.ledger.transfers import transfer_funds
from kingdom.services.versions import StaleVersion


def arrange() -> FakeApp:
    app = FakeApp()
    app.store.put(
        Account(id="acc-a", owner_id="u-1", currency="EUR", balance=100),
        Account(id="acc-b", owner_id="u-2", currency="EUR", balance=5),
        Account(id="acc-usd", owner_id="u-2", currency="USD"),
    )
    return app


def move(
    app: FakeApp,
    source: str = "acc-a",
    target: str = "acc-b",
    amount: int = 30,
    who: Actor | None = None,
    expected: int | None = None,
) -> TransferFunds:
    return TransferFunds(
        meta=app.meta(),
        actor=who or superuser(),
        source_id=source,
        target_id=target,
        amount=amount,
        expected_version=expected,
    )


def balances(app: FakeApp) -> tuple[int, int]:
    return app.store.accounts["acc-a"].balance, app.store.accounts["acc-b"].balance


async def test_a_transfer_moves_money_and_is_recorded_once():
    app = arrange()

    transfer_id = await app.bus.handle(move(app))

    assert balances(app) == (70, 35)
    record = app.store.transfers[transfer_id]
    assert (record.source_id, record.target_id, record.amount, record.currency) == (
        "acc-a",
        "acc-b",
        30,
        "EUR",
    )
    assert record.occurred_at == app.clock.now()
    completed = [e for e in app.store.outbox if isinstance(e, TransferCompleted)]
    assert [e.transfer_id for e in completed] == [transfer_id]
    assert app.store.accounts["acc-a"].version == app.store.accounts["acc-b"].version == 1


async def test_update_on_the_source_is_enough_and_required():
    app = arrange()
    with pytest.raises(Forbidden):
        await app.bus.handle(
            move(app, who=actor(Policy.of("accounts", Permission.UPDATE, "acc-b")))
        )
    assert balances(app) == (100, 5)

    await app.bus.handle(move(app, who=actor(Policy.of("accounts", Permission.UPDATE, "acc-a"))))
    assert balances(app) == (70, 35)


async def test_the_source_version_is_checked():
    app = arrange()
    with pytest.raises(StaleVersion):
        await app.bus.handle(move(app, expected=3))
    await app.bus.handle(move(app, expected=0))
    assert balances(app) == (70, 35)


@pytest.mark.parametrize(
    ("source", "target", "amount", "error"),
    [
        ("acc-a", "acc-b", 101, InsufficientFunds),
        ("acc-a", "acc-a", 1, SameAccountTransfer),
        ("acc-a", "acc-usd", 1, CurrencyMismatch),
        ("acc-a", "ghost", 1, NotFound),
        ("ghost", "acc-a", 1, NotFound),
    ],
)
async def test_a_refused_transfer_changes_nothing(source, target, amount, error):
    app = arrange()
    with pytest.raises(error):
        await app.bus.handle(move(app, source, target, amount))
    assert balances(app) == (100, 5)
    assert app.store.transfers == {}


class RecordingAccounts(FakeAccountRepository):
    def __init__(self, store: InMemoryStore, log: list[str]) -> None:
        super().__init__(store)
        self.log = log

    async def _find(self, id: str) -> Account | None:
        self.log.append(id)
        return await super()._find(id)


async def test_the_two_accounts_are_loaded_in_id_order_whatever_the_direction():
    # Handlers are plain functions: called directly, with a unit of work that
    # records the order in which a database adapter would lock the rows.
    app = arrange()
    log: list[str] = []
    for source, target in (("acc-b", "acc-a"), ("acc-a", "acc-b")):
        uow = FakeUnitOfWork(app.store)
        uow.accounts = RecordingAccounts(app.store, log)
        await transfer_funds(
            move(app, source, target, amount=1), uow=uow, clock=app.clock, ids=app.ids
        )

    assert log == ["acc-a", "acc-b", "acc-a", "acc-b"]


async def test_own_grants_move_money_out_of_the_callers_accounts_only():
    app = arrange()  # acc-a is u-1's, acc-b and acc-usd u-2's
    own = Policy.of("accounts", Permission.UPDATE, "@own")

    await app.bus.handle(move(app, who=actor(own, user_id="u-1")))  # pays into u-2's
    with pytest.raises(Forbidden):
        await app.bus.handle(move(app, "acc-b", "acc-a", 1, who=actor(own, user_id="u-1")))

    assert balances(app) == (70, 35)
