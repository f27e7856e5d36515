"""Idempotency keys, the services rule, on the in-memory fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import CreateRole, RegisterUser
from kingdom.domain.ledger import Deposit, InsufficientFunds, OpenAccount, TransferFunds
from kingdom.domain.shared import Invalid
from kingdom.services.fakes import FakeApp, superuser
from kingdom.services.idempotency import DEFAULT_RETENTION, fingerprint, scope_of
from kingdom.services.ports.idempotency import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotencyRecord,
)
from kingdom.services.retry import NO_RETRY


async def arrange() -> tuple[FakeApp, str, str]:
    app = FakeApp()
    owner = await app.register("ann@example.org")
    accounts = []
    for _ in range(2):
        account_id = await app.bus.handle(
            OpenAccount(meta=app.meta(), actor=superuser(), owner_id=owner, currency="EUR")
        )
        accounts.append(account_id)
    await app.bus.handle(
        Deposit(meta=app.meta(), actor=superuser(), account_id=accounts[0], amount=100)
    )
    return app, accounts[0], accounts[1]


def transfer(app: FakeApp, source: str, target: str, amount: int = 10, **more: object):
    return TransferFunds(
        meta=app.meta(),
        actor=superuser(),
        source_id=source,
        target_id=target,
        amount=amount,
        idempotency_key="key-1",
        **more,  # type: ignore[arg-type]
    )


async def test_a_repeat_answers_as_the_first_without_running_again():
    app, source, target = await arrange()
    outbox_before = len(app.store.outbox)

    first = await app.bus.handle(transfer(app, source, target))
    repeat = await app.bus.handle(transfer(app, source, target))

    assert repeat == first
    assert list(app.store.transfers) == [first]
    assert app.store.accounts[source].balance == 90
    assert len(app.store.outbox) == outbox_before + 1  # one TransferCompleted
    (record,) = app.store.idempotency.values()
    assert (record.scope, record.key) == ("user:root", "key-1")


async def test_the_record_is_written_with_the_effect_in_one_commit():
    app, source, target = await arrange()
    await app.bus.handle(replace(transfer(app, source, target), idempotency_key="warm-up"))
    commits = app.store.commits  # after the first keyed write's prune (one per interval)

    await app.bus.handle(transfer(app, source, target))

    assert app.store.commits == commits + 1
    assert len(app.store.idempotency) == 2


async def test_the_same_key_with_another_input_is_refused_and_writes_nothing():
    app, source, target = await arrange()
    await app.bus.handle(transfer(app, source, target))
    commits, outbox = app.store.commits, len(app.store.outbox)

    with pytest.raises(IdempotencyKeyReused):
        await app.bus.handle(transfer(app, source, target, amount=11))
    with pytest.raises(IdempotencyKeyReused):  # another command is another input too
        await app.bus.handle(
            Deposit(
                meta=app.meta(),
                actor=superuser(),
                account_id=source,
                amount=10,
                idempotency_key="key-1",
            )
        )

    assert (app.store.commits, len(app.store.outbox)) == (commits, outbox)
    assert app.store.accounts[source].balance == 90


async def test_keys_are_per_caller():
    app, source, target = await arrange()

    first = await app.bus.handle(transfer(app, source, target))
    other = await app.bus.handle(
        replace(transfer(app, source, target), actor=superuser("someone-else"))
    )

    assert other != first
    assert app.store.accounts[source].balance == 80
    assert {scope for scope, _ in app.store.idempotency} == {"user:root", "user:someone-else"}


async def test_an_expired_key_runs_again_and_old_records_are_pruned():
    app, source, target = await arrange()
    first = await app.bus.handle(transfer(app, source, target))

    app.clock.advance(DEFAULT_RETENTION + timedelta(seconds=1))
    again = await app.bus.handle(transfer(app, source, target))

    assert again != first
    assert app.store.accounts[source].balance == 80
    (record,) = app.store.idempotency.values()  # replaced, not duplicated
    assert record.created_at == app.clock.now()

    app.store.idempotency[("user:old", "stale")] = replace(
        record, scope="user:old", key="stale", created_at=record.created_at - DEFAULT_RETENTION
    )
    app.clock.advance(timedelta(minutes=10))  # past the pruning interval
    await app.bus.handle(replace(transfer(app, source, target), idempotency_key="key-2"))

    assert ("user:old", "stale") not in app.store.idempotency
    assert ("user:root", "key-2") in app.store.idempotency


async def test_a_refused_command_records_nothing_and_may_be_retried_with_its_key():
    app, source, target = await arrange()

    with pytest.raises(InsufficientFunds):
        await app.bus.handle(transfer(app, source, target, amount=500))
    assert app.store.idempotency == {}

    await app.bus.handle(Deposit(meta=app.meta(), actor=superuser(), account_id=source, amount=400))
    transfer_id = await app.bus.handle(transfer(app, source, target, amount=500))

    assert list(app.store.transfers) == [transfer_id]


async def test_a_repeat_that_loses_the_race_is_rolled_back_and_answered_from_the_winner():
    app, source, target = await arrange()
    winner = IdempotencyRecord(
        "user:root",
        "key-1",
        fingerprint(transfer(app, source, target)),
        '"t-winner"',
        app.clock.now(),
    )
    # The winner commits between this request's look-up and its commit.
    original = app.unit_of_work

    def racing_unit_of_work():
        uow = original()
        find = uow.idempotency.find

        async def find_then_lose(scope: str, key: str):
            found = await find(scope, key)
            app.store.idempotency.setdefault((scope, key), winner)
            return found

        uow.idempotency.find = find_then_lose  # type: ignore[method-assign]
        return uow

    app.bus._uow_factory = racing_unit_of_work

    answer = await app.bus.handle(transfer(app, source, target))

    assert answer == "t-winner"
    assert app.store.transfers == {}  # the loser's effect was rolled back
    assert app.store.accounts[source].balance == 100


async def test_a_repeat_still_racing_when_retries_run_out_gets_a_retryable_refusal():
    app = FakeApp(retry=NO_RETRY)
    owner = await app.register("ann@example.org")
    command = OpenAccount(
        meta=app.meta(), actor=superuser(), owner_id=owner, currency="EUR", idempotency_key="k"
    )
    original = app.unit_of_work

    def racing_unit_of_work():
        uow = original()

        async def find_then_lose(scope: str, key: str):
            app.store.idempotency[(scope, key)] = IdempotencyRecord(
                scope, key, fingerprint(command), '"a-1"', app.clock.now()
            )
            return None

        uow.idempotency.find = find_then_lose  # type: ignore[method-assign]
        return uow

    app.bus._uow_factory = racing_unit_of_work

    with pytest.raises(IdempotencyKeyInUse):
        await app.bus.handle(command)
    assert len(app.store.accounts) == 0


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there"])
async def test_a_malformed_key_is_refused(key: str):
    app, source, target = await arrange()

    with pytest.raises(Invalid, match="idempotency key"):
        await app.bus.handle(replace(transfer(app, source, target), idempotency_key=key))


async def test_anonymous_registration_is_scoped_by_client_address():
    app = FakeApp()

    def register(address: str | None, email: str = "new@example.org") -> RegisterUser:
        return RegisterUser(
            meta=app.meta(),
            email=email,
            display_name="New",
            password="correct horse battery",
            client_address=address,
            idempotency_key="k",
        )

    first = await app.bus.handle(register("192.0.2.1"))
    assert await app.bus.handle(register("192.0.2.1")) == first
    assert len(app.store.users) == 1
    assert scope_of(register("192.0.2.1")) == "address:192.0.2.1"
    assert scope_of(register(None)) == "anonymous"
    with pytest.raises(IdempotencyKeyReused):
        await app.bus.handle(register("192.0.2.1", email="other@example.org"))


def test_the_fingerprint_is_the_input_without_meta_actor_address_or_secrets():
    app = FakeApp()
    policies = (Policy.of("accounts", Permission.READ, "b", "a"),)
    role = CreateRole(meta=app.meta(), actor=superuser(), code="c", name="C", policies=policies)
    same = CreateRole(
        meta=app.meta(),
        actor=superuser("other"),
        code="c",
        name="C",
        policies=(Policy.of("accounts", Permission.READ, "a", "b"),),
        idempotency_key="k",
    )
    assert fingerprint(role) == fingerprint(same)
    assert fingerprint(role) != fingerprint(replace(role, name="D"))

    def register(password: str, address: str) -> RegisterUser:
        return RegisterUser(
            meta=app.meta(),
            email="a@example.org",
            display_name="A",
            password=password,
            client_address=address,
        )

    assert fingerprint(register("one password", "192.0.2.1")) == fingerprint(
        register("another password", "192.0.2.2")
    )
