"""Transfers per second and latency on PostgreSQL, through the real message bus.

Usage: ./pants run benchmarks:transfers -- [server-url] [--transfers N] [--accounts N]

Creates a throwaway database on the server (default
postgresql://postgres@127.0.0.1:5432/postgres), applies the migrations, opens
accounts, then runs 1, 8 and 32 concurrent clients, each sending
TransferFunds commands through the bus (READ COMMITTED, accounts locked in id
order, version checks, outbox, conflict retries) and timing every command.
Then 16 clients on all accounts ("spread") and on 2 hot accounts ("hot").
Prints a table; the targets are >= 1,000 transfers/s with p99 < 50 ms at 8
clients, and on the hot accounts 0 surfaced conflicts and >= 50% of the
spread throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from throwaway_postgres import throwaway_database

from kingdom.adapters.migrations.runner import upgrade
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.adapters.system import SystemClock, UuidIds
from kingdom.domain.access import Actor, Permission, Policy, compile_policies
from kingdom.domain.identity import User
from kingdom.domain.ledger import Account, TransferFunds
from kingdom.services.bootstrap import bootstrap
from kingdom.services.ledger import COMMAND_HANDLERS as LEDGER_HANDLERS
from kingdom.services.messagebus import MessageBus
from kingdom.services.meta import new_meta
from kingdom.services.ports import ConcurrencyConflict

CLOCK, IDS = SystemClock(), UuidIds()
TELLER = Actor("bench", compile_policies([Policy.of("accounts", Permission.ALL)]))


async def seed(database: Database, accounts: int) -> list[str]:
    async with SqlUnitOfWork(database) as uow:
        owner = User.register(
            id=IDS.new_id(),
            email="bench@example.org",
            display_name="Bench",
            password_hash="x",
            meta=new_meta(CLOCK, IDS),
        )
        await uow.users.add(owner)
        ids = []
        for _ in range(accounts):
            account = Account.open(
                id=IDS.new_id(), owner_id=owner.id, currency="EUR", meta=new_meta(CLOCK, IDS)
            )
            account.deposit(1_000_000_000, new_meta(CLOCK, IDS))
            await uow.accounts.add(account)
            ids.append(account.id)
        await uow.commit()
    return ids


async def run(
    bus: MessageBus, ids: list[str], clients: int, per_client: int
) -> tuple[float, list[float], int]:
    """Elapsed seconds, latency of every committed transfer, conflicts that surfaced."""
    latencies: list[float] = []
    surfaced = 0

    async def client(seed: int) -> None:
        nonlocal surfaced
        rng = random.Random(seed)
        for _ in range(per_client):
            source, target = rng.sample(ids, 2)
            amount = rng.randint(1, 100) if len(ids) > 2 else 1
            started = time.perf_counter()
            try:
                await bus.handle(
                    TransferFunds(
                        meta=new_meta(CLOCK, IDS),
                        actor=TELLER,
                        source_id=source,
                        target_id=target,
                        amount=amount,
                    )
                )
            except ConcurrencyConflict:  # retries exhausted: counted, not hidden
                surfaced += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(seed) for seed in range(clients)))
    return time.perf_counter() - started, latencies, surfaced


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "server", nargs="?", default="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--transfers", type=int, default=3200, help="per concurrency level")
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()

    async with throwaway_database(args.server) as throwaway:
        url = throwaway.url
        database = create_database(url)
        try:
            await upgrade(url)
            ids = await seed(database, args.accounts)
            bus = bootstrap(
                uow_factory=lambda: SqlUnitOfWork(database),
                dependencies={"clock": CLOCK, "ids": IDS},
                command_handlers=LEDGER_HANDLERS,
                event_handlers={},
            )
            await run(bus, ids, 4, 50)  # warm the pool and the statement caches
            print(
                f"{args.accounts:,} accounts, {args.transfers:,} transfers per row, "
                f"{database.isolation.value}\n"
            )
            print(
                f"{'clients':>7} {'seconds':>8} {'transfers/s':>12} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'conflicts':>9}  target"
            )
            for clients in (1, 8, 32):
                elapsed, latencies, surfaced = await run(
                    bus, ids, clients, args.transfers // clients
                )
                rate = len(latencies) / elapsed
                cuts = statistics.quantiles(latencies, n=100)
                p50, p99 = cuts[49] * 1000, cuts[98] * 1000
                target = ""
                if clients == 8:
                    met = rate >= 1000 and p99 < 50
                    target = f"{'met' if met else 'MISSED'} (>= 1,000/s, p99 < 50 ms)"
                print(
                    f"{clients:>7} {elapsed:>8.2f} {rate:>12,.0f} {p50:>8.2f} {p99:>8.2f} "
                    f"{surfaced:>9}  {target}"
                )
            rates = {}
            for label, pool in (("spread", ids), ("hot", ids[:2])):
                elapsed, latencies, surfaced = await run(bus, pool, 16, args.transfers // 16)
                rates[label] = len(latencies) / elapsed
                cuts = statistics.quantiles(latencies, n=100)
                target = ""
                if label == "hot":
                    share = rates["hot"] / rates["spread"]
                    met = surfaced == 0 and share >= 0.5
                    target = f"{'met' if met else 'MISSED'} ({share:.0%} of spread, 0 conflicts)"
                print(
                    f"{'16 ' + label:>7} {elapsed:>8.2f} {rates[label]:>12,.0f} "
                    f"{cuts[49] * 1000:>8.2f} {cuts[98] * 1000:>8.2f} {surfaced:>9}  {target}"
                )
        finally:
            await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
