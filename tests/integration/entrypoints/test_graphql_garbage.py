"""A request's objects are freed when it ends, by reference counting alone.

A reference cycle among them (a run and its bound resolvers, a request's
loaders and their fetches) keeps the whole request (its context, loaders,
futures and rows) alive until the cyclic garbage collector's next pass,
which then runs every few dozen requests and walks them all: memory and
time the read path should not spend.
"""

from __future__ import annotations

import gc

from sqlalchemy.types import TypeEngine

from integration.entrypoints.support import Api
from kingdom.domain.access import Permission, Policy

READS = (
    "{ __typename }",
    "{ viewer { id email } }",
    "{ accounts(first: 50) { edges { node { id balance owner { email } } } } }",
)


async def test_reads_leave_no_cycles_of_kingdoms_objects_behind(api: Api) -> None:
    owner = await api.register("owner@example.org")
    for balance in (100, 200):
        await api.open_account(owner, balance)
    token = api.token_with(
        Policy.of("accounts", Permission.READ), Policy.of("users", Permission.READ), user_id=owner
    )
    for query in READS:  # what is made once (documents, plans, pools) is made now
        await api.ok(query, token=token)

    gc.collect()
    # Earlier tests' objects may still come loose now (a pool an outage test left
    # to its finalizers): only what was made during these reads counts.
    before = {id(found) for found in gc.get_objects()}
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage
    try:
        for query in READS * 5:
            await api.ok(query, token=token)
        gc.collect()
        left = sorted(
            {
                type(found).__qualname__
                for found in gc.garbage
                if id(found) not in before and _per_request(found)
            }
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()

    assert left == []


def _per_request(found: object) -> bool:
    """One of Kingdom's objects, other than a column type: SQLAlchemy makes a few
    cyclic copies of those the first times a connection reads them (as many
    after 3 rounds of reads as after 10), never one per request."""
    return type(found).__module__.startswith("kingdom.") and not isinstance(found, TypeEngine)
