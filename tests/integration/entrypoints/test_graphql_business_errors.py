"""Ledger refusals carry a stable ``extensions.reason`` under their ``extensions.code``.

Clients branch on the reason, never on the message (which is for humans and
may change), and nothing is written when one is refused.
"""

from __future__ import annotations

from integration.entrypoints.support import Api, gid
from kingdom.domain.access import Permission, Policy
from kingdom.domain.ledger import CloseAccount, Withdraw
from kingdom.services.fakes import superuser

TRANSFER = """
mutation($input: TransferInput!) { transfer(input: $input) { transferId } }
"""
DEPOSIT = """
mutation($input: DepositInput!) { deposit(input: $input) { accountId } }
"""


def _move(source: str, target: str, amount: int) -> dict[str, object]:
    return {
        "input": {
            "sourceId": gid("Account", source),
            "targetId": gid("Account", target),
            "amount": amount,
        }
    }


def _reasons(result: object) -> list[tuple[str, str | None]]:
    errors = result.errors  # type: ignore[attr-defined]
    return [(e["extensions"]["code"], e["extensions"].get("reason")) for e in errors]


async def test_each_ledger_refusal_has_its_reason_and_writes_nothing(api: Api) -> None:
    owner = await api.register("owner@example.org")
    euros, more_euros = await api.open_account(owner, 100), await api.open_account(owner, 5)
    dollars = await api.open_account(owner, 50, currency="USD")
    closed = await api.open_account(owner, 3)
    await api.bus.handle(Withdraw(meta=api.meta(), actor=superuser(), account_id=closed, amount=3))
    await api.bus.handle(CloseAccount(meta=api.meta(), actor=superuser(), account_id=closed))
    token = api.token_with(Policy.of("accounts", Permission.ALL))
    rows = [await api.account_row(a) for a in (euros, more_euros, dollars, closed)]
    outbox = await api.outbox_size()

    broke = await api.execute(TRANSFER, _move(euros, more_euros, 101), token=token)
    to_closed = await api.execute(TRANSFER, _move(euros, closed, 1), token=token)
    from_closed = await api.execute(TRANSFER, _move(closed, euros, 1), token=token)
    deposit_closed = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("Account", closed), "amount": 1}}, token=token
    )
    exchange = await api.execute(TRANSFER, _move(euros, dollars, 1), token=token)
    itself = await api.execute(TRANSFER, _move(euros, euros, 1), token=token)
    not_empty = await api.execute(
        "mutation($id: ID!) { closeAccount(input: {accountId: $id}) { accountId } }",
        {"id": gid("Account", euros)},
        token=token,
    )

    assert _reasons(broke) == [("BAD_USER_INPUT", "INSUFFICIENT_FUNDS")]
    assert _reasons(to_closed) == [("BAD_USER_INPUT", "ACCOUNT_CLOSED")]
    assert _reasons(from_closed) == [("BAD_USER_INPUT", "ACCOUNT_CLOSED")]
    assert _reasons(deposit_closed) == [("BAD_USER_INPUT", "ACCOUNT_CLOSED")]
    assert _reasons(exchange) == [("BAD_USER_INPUT", "CURRENCY_MISMATCH")]
    assert _reasons(itself) == [("BAD_USER_INPUT", "SAME_ACCOUNT")]
    assert _reasons(not_empty) == [("CONFLICT", "BALANCE_NOT_ZERO")]
    assert [await api.account_row(a) for a in (euros, more_euros, dollars, closed)] == rows
    assert await api.outbox_size() == outbox


async def test_other_refusals_have_no_reason(api: Api) -> None:
    owner = await api.register("owner@example.org")
    account = await api.open_account(owner, 5)
    token = api.token_with(Policy.of("accounts", Permission.ALL))

    negative = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("Account", account), "amount": -5}}, token=token
    )
    missing = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("Account", "nope"), "amount": 5}}, token=token
    )

    assert _reasons(negative) == [("BAD_USER_INPUT", None)]
    assert _reasons(missing) == [("NOT_FOUND", None)]
