"""A query with several root fields reads one snapshot; a single root field reads as before.

Under concurrent transfers, ``accounts`` and ``nodes`` in one query must
show the same balances, each summing to the money in the system: without a
shared snapshot each root field would read its own moment.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from integration.entrypoints.support import CODEC, Api, gid
from kingdom.adapters.ledger.queries import SqlAccountQueries
from kingdom.adapters.sql.snapshot import ReadSnapshots
from kingdom.domain.access import Actor, Permission, Policy, ReadScope, compile_policies
from kingdom.domain.ledger import Deposit, InsufficientFunds, TransferFunds
from kingdom.services.fakes import superuser
from kingdom.services.ports import ConcurrencyConflict

ACCOUNTS = 8
OPENING_BALANCE = 1_000
TWO_ROOT_FIELDS = """
query($ids: [ID!]!) {
  accounts(first: 100) { edges { node { id balance } } }
  nodes(ids: $ids) { ... on Account { id balance } }
}
"""


async def test_two_root_fields_agree_under_concurrent_transfers(api: Api) -> None:
    owner = await api.register("owner@example.org")
    ids = [await api.open_account(owner, OPENING_BALANCE) for _ in range(ACCOUNTS)]
    token = api.token_with(Policy.of("accounts", Permission.READ))
    variables = {"ids": [gid("Account", account) for account in ids]}
    total = ACCOUNTS * OPENING_BALANCE
    rng = random.Random(12)
    done = asyncio.Event()
    moved = 0

    async def transfers() -> None:
        nonlocal moved
        while not done.is_set():
            source, target = rng.sample(ids, 2)
            try:
                await api.bus.handle(
                    TransferFunds(
                        meta=api.meta(),
                        actor=superuser(),
                        source_id=source,
                        target_id=target,
                        amount=rng.randint(1, 300),
                    )
                )
                moved += 1
            except (InsufficientFunds, ConcurrencyConflict):
                pass  # refused or lost a race: nothing moved, not what is tested

    async def reads() -> list[dict[str, Any]]:
        answers = []
        for _ in range(40):
            answers.append(await api.ok(TWO_ROOT_FIELDS, variables, token=token))
            await asyncio.sleep(0)
        return answers

    writers = [asyncio.create_task(transfers()) for _ in range(4)]
    try:
        answers = await reads()
    finally:
        done.set()
        await asyncio.gather(*writers)

    assert moved > 0
    for answer in answers:
        listed = {e["node"]["id"]: int(e["node"]["balance"]) for e in answer["accounts"]["edges"]}
        looked_up = {node["id"]: int(node["balance"]) for node in answer["nodes"]}
        assert sum(listed.values()) == total
        assert sum(looked_up.values()) == total
        assert listed == looked_up


async def test_inside_a_snapshot_reads_do_not_see_later_commits(api: Api) -> None:
    owner = await api.register("owner@example.org")
    account = await api.open_account(owner, 10)
    queries = SqlAccountQueries(api.database, CODEC)
    everything = ReadScope(all=True)

    async with ReadSnapshots(api.database)():
        before = (await queries.by_ids(everything, [account]))[account].balance
        await api.bus.handle(
            Deposit(meta=api.meta(), actor=superuser(), account_id=account, amount=5)
        )
        inside = (await queries.by_ids(everything, [account]))[account].balance
    after = (await queries.by_ids(everything, [account]))[account].balance

    assert (before, inside, after) == (10, 10, 15)


async def test_a_root_field_failing_early_leaves_the_snapshot_connection_sound(api: Api) -> None:
    """The executor stops waiting for the other root fields: their reads must not clash."""
    owner = await api.register("owner@example.org")
    account = await api.open_account(owner, 10)
    token = api.token_for(Actor(owner, compile_policies([Policy.of("accounts", Permission.ALL)])))
    failing = '{ nodes(ids: ["not a global id"]) { id } viewer { roleCodes displayName } }'
    fine = {"ids": [gid("Account", account)]}

    for _ in range(15):
        refused = await api.execute(failing, token=token)
        assert refused.codes == ["BAD_USER_INPUT"], refused.body
        answer = await api.ok(TWO_ROOT_FIELDS, fine, token=token)
        assert answer["nodes"] == [{"id": gid("Account", account), "balance": "10"}]
