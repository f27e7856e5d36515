"""Idempotency keys over the GraphQL API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from integration.entrypoints.support import PASSWORD, Api, gid
from kingdom.adapters.ledger.tables import transfers
from kingdom.adapters.sql.idempotency import idempotency_keys
from kingdom.domain.access import Actor, Permission, Policy, compile_policies
from kingdom.services.idempotency import DEFAULT_RETENTION

TRANSFER = """
mutation($input: TransferInput!) {
  transfer(input: $input) { transferId transfer { amount } }
}
"""


async def _arrange(api: Api, balance: int = 1000) -> tuple[str, str, str, str]:
    """An owner with two accounts; returns (owner id, token, source, target)."""
    owner = await api.register("owner@example.org")
    source, target = await api.open_account(owner, balance), await api.open_account(owner)
    token = api.token_for(Actor(owner, compile_policies(_manages(source, target))))
    return owner, token, source, target


def _manages(*account_ids: str) -> list[Policy]:
    return [Policy.of("accounts", Permission.READ | Permission.UPDATE, *account_ids)]


def _transfer(source: str, target: str, amount: int = 10, key: str = "key-1") -> dict[str, Any]:
    return {
        "input": {
            "sourceId": gid("Account", source),
            "targetId": gid("Account", target),
            "amount": amount,
            "idempotencyKey": key,
        }
    }


async def _count(api: Api, table: Any) -> int:
    async with api.database.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def _keys(api: Api) -> set[tuple[str, str]]:
    async with api.database.engine.connect() as connection:
        rows = await connection.execute(select(idempotency_keys.c.scope, idempotency_keys.c.key))
        return {(row.scope, row.key) for row in rows}


async def test_a_repeated_transfer_answers_the_same_and_moves_money_once(api: Api) -> None:
    owner, token, source, target = await _arrange(api)
    outbox = await api.outbox_size()

    answers = [await api.ok(TRANSFER, _transfer(source, target), token=token) for _ in range(3)]

    assert answers[0]["transfer"]["transferId"]
    assert answers[1:] == [answers[0]] * 2
    assert (await api.account_row(source))[0] == 990
    assert (await api.account_row(target))[0] == 10
    assert await _count(api, transfers) == 1
    assert await api.outbox_size() == outbox + 1
    assert await _keys(api) == {(f"user:{owner}", "key-1")}


async def test_each_mutation_of_a_document_has_its_own_key(api: Api) -> None:
    _, token, source, target = await _arrange(api)
    document = """
    mutation($a: TransferInput!, $b: TransferInput!) {
      a: transfer(input: $a) { transferId }
      b: transfer(input: $b) { transferId }
    }"""
    variables = {
        "a": _transfer(source, target, key="a")["input"],
        "b": _transfer(source, target, key="b")["input"],
    }

    first = await api.ok(document, variables, token=token)
    again = await api.ok(document, variables, token=token)

    assert again == first
    assert first["a"]["transferId"] != first["b"]["transferId"]
    assert (await api.account_row(source))[0] == 980


async def test_twenty_concurrent_repeats_move_money_once(api: Api) -> None:
    _, token, source, target = await _arrange(api)
    outbox = await api.outbox_size()

    results = await asyncio.gather(
        *(api.execute(TRANSFER, _transfer(source, target), token=token) for _ in range(20))
    )

    ids = {r.data["transfer"]["transferId"] for r in results if not r.errors}
    refused = [r.codes for r in results if r.errors]
    assert len(ids) == 1, [r.body for r in results]
    assert all(codes == ["IDEMPOTENCY_KEY_IN_USE"] for codes in refused), refused
    assert (await api.account_row(source))[0] == 990
    assert await _count(api, transfers) == 1
    assert await api.outbox_size() == outbox + 1


async def test_the_same_key_with_another_input_is_refused_and_writes_nothing(api: Api) -> None:
    _, token, source, target = await _arrange(api)
    await api.ok(TRANSFER, _transfer(source, target), token=token)
    rows, outbox = await api.account_row(source), await api.outbox_size()

    changed = await api.execute(TRANSFER, _transfer(source, target, amount=11), token=token)
    deposit = await api.execute(
        "mutation($input: DepositInput!) { deposit(input: $input) { accountId } }",
        {"input": {"accountId": gid("Account", source), "amount": 10, "idempotencyKey": "key-1"}},
        token=token,
    )

    for result in (changed, deposit):
        assert result.codes == ["IDEMPOTENCY_KEY_REUSED"]
        assert result.errors[0]["extensions"]["status"] == 422
        assert "different request" in result.errors[0]["message"]
    assert await api.account_row(source) == rows
    assert await api.outbox_size() == outbox
    assert await _count(api, transfers) == 1


async def test_an_expired_key_runs_again_and_old_keys_are_pruned(api: Api) -> None:
    owner, token, source, target = await _arrange(api)
    first = await api.ok(TRANSFER, _transfer(source, target), token=token)
    await api.ok(TRANSFER, _transfer(source, target, key="left-alone"), token=token)

    api.clock.advance(DEFAULT_RETENTION + timedelta(seconds=1))
    again = await api.ok(TRANSFER, _transfer(source, target), token=token)

    assert again["transfer"]["transferId"] != first["transfer"]["transferId"]
    assert (await api.account_row(source))[0] == 970
    # The expired record was replaced; the other old one was pruned.
    assert await _keys(api) == {(f"user:{owner}", "key-1")}
    assert await api.ok(TRANSFER, _transfer(source, target), token=token) == again


async def test_keys_are_per_caller(api: Api) -> None:
    _, token, source, target = await _arrange(api)
    other = await api.register("other@example.org")
    theirs, their_target = await api.open_account(other, 100), await api.open_account(other)
    other_token = api.token_for(Actor(other, compile_policies(_manages(theirs, their_target))))

    mine = await api.ok(TRANSFER, _transfer(source, target), token=token)
    their = await api.ok(TRANSFER, _transfer(theirs, their_target), token=other_token)

    assert mine["transfer"]["transferId"] != their["transfer"]["transferId"]
    assert (await api.account_row(source))[0] == 990
    assert (await api.account_row(theirs))[0] == 90


async def test_registration_and_grants_take_keys_too(api: Api) -> None:
    register = """mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }"""
    details = {
        "email": "new@example.org",
        "displayName": "New",
        "password": PASSWORD,
        "idempotencyKey": "signup-1",
    }
    first = await api.ok(register, {"input": details})
    again = await api.ok(register, {"input": details})
    other = await api.execute(register, {"input": {**details, "displayName": "Other"}})

    assert again == first
    assert other.codes == ["IDEMPOTENCY_KEY_REUSED"]
    (scope,) = {scope for scope, key in await _keys(api) if key == "signup-1"}
    assert scope.startswith("address:")  # anonymous: scoped by the client's address

    admin = api.token_with(Policy.of("roles", Permission.ALL), Policy.of("users", Permission.ALL))
    create = """mutation($input: CreateRoleInput!) { createRole(input: $input) { roleId } }"""
    role = {"code": "auditor", "name": "Auditor", "idempotencyKey": "role-1"}
    assert await api.ok(create, {"input": role}, token=admin) == await api.ok(
        create, {"input": role}, token=admin
    )
    assign = """mutation($input: AssignRoleInput!) { assignRole(input: $input) { userId } }"""
    grant = {
        "userId": first["registerUser"]["userId"],
        "roleId": gid("Role", "auditor"),
        "idempotencyKey": "grant-1",
    }
    assert await api.ok(assign, {"input": grant}, token=admin) == await api.ok(
        assign, {"input": grant}, token=admin
    )
