"""Does a page 100,000 rows deep cost the same as the first? (Keyset pagination.)

Seeds 200,000 accounts into a throwaway PostgreSQL database (dropped at the
end), then times ``SqlAccountQueries.list`` for the first page and for a page
starting 100,000 rows in, reached by the cursor of the row at that depth
rather than by walking there. Both directions are measured; the requests are
interleaved so drift on a busy machine hits them alike, and the medians are
compared. The target is a deep/first ratio of at most 1.2. For contrast, the
last row times the same page fetched with OFFSET, which the adapters never use.

    ./pants run benchmarks:keyset -- [postgresql://user@host:port/db] [--repetitions N]

The URL is the server's (libpq style); its database is only used to create
and drop the throwaway one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from sqlalchemy import text
from throwaway_postgres import throwaway_database

from kingdom.adapters.ledger.queries import SqlAccountQueries
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.adapters.sql.metadata import metadata
from kingdom.domain.access import ReadScope
from kingdom.services.ports.queries import PageRequest

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ACCOUNTS = 200_000
OWNERS = 1_000
DEPTH = 100_000
PAGE_SIZE = 50
TARGET_RATIO = 1.2


@dataclass(frozen=True)
class Timing:
    label: str
    samples: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p90_ms(self) -> float:
        return statistics.quantiles(self.samples, n=10)[-1] * 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", nargs="?", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--repetitions", type=int, default=400, help="timed runs per figure")
    return parser.parse_args()


async def seed(connection: asyncpg.Connection, account_ids: list[str]) -> None:
    """Users and accounts by COPY, then ANALYZE so the planner sees the real table."""
    owners = [f"owner-{n:05d}" for n in range(OWNERS)]
    await connection.copy_records_to_table(
        "users",
        records=[(o, f"{o}@example.com", o, "active", "x", "[]", 0, 1) for o in owners],
        columns=[
            "id",
            "email",
            "display_name",
            "status",
            "password_hash",
            "policies",
            "token_version",
            "version",
        ],
    )
    rng = random.Random(7)
    await connection.copy_records_to_table(
        "accounts",
        records=[
            (account_id, owners[n % OWNERS], "EUR", rng.randrange(10**9), "open", 1)
            for n, account_id in enumerate(account_ids)
        ],
        columns=["id", "owner_id", "currency", "balance", "status", "version"],
    )
    await connection.execute("VACUUM ANALYZE users")
    await connection.execute("VACUUM ANALYZE accounts")


async def measure(
    operations: dict[str, Callable[[], Awaitable[object]]], repetitions: int
) -> list[Timing]:
    samples: dict[str, list[float]] = {label: [] for label in operations}
    for _ in range(max(20, repetitions // 10)):  # warm the pool, caches and plans
        for operation in operations.values():
            await operation()
    for _ in range(repetitions):
        for label, operation in operations.items():
            started = time.perf_counter()
            await operation()
            samples[label].append(time.perf_counter() - started)
    return [Timing(label, values) for label, values in samples.items()]


async def run(database: Database, account_ids: list[str], repetitions: int) -> list[Timing]:
    codec = CursorCodec(b"benchmark-cursor-key-0123456789!")
    queries = SqlAccountQueries(database, codec)
    everything = ReadScope.everything()
    ordered = sorted(account_ids)
    # The cursor of the row at that depth, as a client holding it would send it.
    forward_cursor = codec.encode("accounts", (ordered[DEPTH - 1],))
    backward_cursor = codec.encode("accounts", (ordered[ACCOUNTS - DEPTH],))

    def page(request: PageRequest) -> Callable[[], Awaitable[object]]:
        async def call() -> object:
            return await queries.list(everything, request)

        return call

    # Time only pages that are right.
    deep = await queries.list(everything, PageRequest.first(PAGE_SIZE, forward_cursor))
    deep_back = await queries.list(everything, PageRequest.last(PAGE_SIZE, backward_cursor))
    if (
        [a.id for a in deep.items] != ordered[DEPTH : DEPTH + PAGE_SIZE]
        or not (deep.has_next and deep.has_previous)
        or [a.id for a in deep_back.items] != ordered[ACCOUNTS - DEPTH - PAGE_SIZE : -DEPTH]
        or not (deep_back.has_next and deep_back.has_previous)
    ):
        raise SystemExit("the deep pages are wrong: not timing them")

    async def with_offset() -> object:
        async with database.engine.connect() as connection:
            result = await connection.execute(
                text("SELECT * FROM accounts ORDER BY id LIMIT :limit OFFSET :offset"),
                {"limit": PAGE_SIZE + 1, "offset": DEPTH},
            )
            return result.all()

    return await measure(
        {
            f"first {PAGE_SIZE} (forward, no cursor)": page(PageRequest.first(PAGE_SIZE)),
            f"first {PAGE_SIZE} after row {DEPTH:,}": page(
                PageRequest.first(PAGE_SIZE, forward_cursor)
            ),
            f"last {PAGE_SIZE} (backward, no cursor)": page(PageRequest.last(PAGE_SIZE)),
            f"last {PAGE_SIZE} before row {DEPTH:,} from the end": page(
                PageRequest.last(PAGE_SIZE, backward_cursor)
            ),
            f"reference: OFFSET {DEPTH:,} (not used)": with_offset,
        },
        repetitions,
    )


def report(timings: list[Timing]) -> None:
    first, deep, last, deep_back, offset = timings
    print(
        f"{ACCOUNTS:,} accounts, {PAGE_SIZE} per page, median of {len(first.samples)} runs each\n"
    )
    print(f"{'page':<44} {'median ms':>10} {'p90 ms':>8} {'vs first':>9}")
    rows = [(first, first), (deep, first), (last, last), (deep_back, last), (offset, first)]
    for timing, baseline in rows:
        ratio = timing.median_ms / baseline.median_ms
        print(f"{timing.label:<44} {timing.median_ms:>10.3f} {timing.p90_ms:>8.3f} {ratio:>8.2f}x")
    worst = max(deep.median_ms / first.median_ms, deep_back.median_ms / last.median_ms)
    verdict = "meets" if worst <= TARGET_RATIO else "MISSES"
    print(f"\ndeep/first ratio {worst:.2f}x {verdict} the target of <= {TARGET_RATIO}x")


async def main() -> None:
    args = parse_args()
    async with throwaway_database(args.server) as throwaway:
        database = create_database(throwaway.url)
        try:
            async with database.engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            rng = random.Random(42)
            account_ids = [
                str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(ACCOUNTS)
            ]
            seeding = await asyncpg.connect(throwaway.dsn)
            try:
                started = time.perf_counter()
                await seed(seeding, account_ids)
                print(f"seeded in {time.perf_counter() - started:.1f}s")
            finally:
                await seeding.close()
            report(await run(database, account_ids, args.repetitions))
        finally:
            await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
