"""What one point read costs the server: through SQLAlchemy, straight on the driver, cached.

The two reads every ``viewer { id email }`` makes: the caller's token state
(``SqlTokenStates.current``) and the caller's row (``SqlUserQueries.by_ids``
with one id). Each is timed as CPU per call (``time.process_time``: this
process, every thread, so aiosqlite's thread counts) over sequential calls:

* ``sqlalchemy``: the statement run as it was before direct reads, through
  ``Database.reader`` (an ``AsyncConnection`` without a transaction);
* ``direct``: the adapter as it is (:mod:`kingdom.adapters.sql.direct_reads`);
* ``cached`` (PostgreSQL, token state): through ``TokenStateCache`` with its
  listener running, so a call is served from memory under a lease.

On a throwaway SQLite file and a throwaway PostgreSQL database (created,
migrated, dropped). The repetitions are interleaved and the median of each
is printed; nothing is asserted (machines are shared and noisy).

    ./pants run benchmarks:point_reads -- [postgresql://server/db | --no-postgres] [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import bindparam, insert, select
from throwaway_postgres import throwaway_database

from kingdom.adapters.identity.queries import SqlUserQueries
from kingdom.adapters.identity.tables import users
from kingdom.adapters.identity.token_state_cache import TokenStateCache, token_state_notices
from kingdom.adapters.identity.token_states import SqlTokenStates
from kingdom.adapters.migrations import runner
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.domain.access import ReadScope

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
USER = "u-benchmark"
STATE = select(users.c.token_version, users.c.status).where(users.c.id == bindparam("user_id"))
ROW = select(users.c.id, users.c.email, users.c.display_name, users.c.status, users.c.policies,
             users.c.version).where(users.c.id == bindparam("id"))  # fmt: skip

Call = Callable[[], Awaitable[object]]


async def cpu_per_call(call: Call, calls: int) -> float:
    """CPU µs per call over ``calls`` sequential calls."""
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1e6


async def measure(cases: dict[str, Call], calls: int, rounds: int) -> dict[str, float]:
    for call in cases.values():  # warm: connections, prepared statements, caches
        for _ in range(200):
            await call()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved, so drift hits every case alike
        for name, call in cases.items():
            samples[name].append(await cpu_per_call(call, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


async def seeded(url: str) -> Database:
    await runner.upgrade(url)
    database = create_database(url)
    async with database.writer.begin() as connection:
        await connection.execute(
            insert(users),
            [
                {
                    "id": USER,
                    "email": "benchmark@example.org",
                    "display_name": "Benchmark",
                    "status": "active",
                    "password_hash": "$argon2id$benchmark",
                    "policies": set(),
                    "token_version": 1,
                    "version": 1,
                }
            ],
        )
    return database


async def run(label: str, url: str, calls: int, rounds: int) -> None:
    database = await seeded(url)
    try:
        states = SqlTokenStates(database)
        queries = SqlUserQueries(database, CursorCodec(b"point-reads-benchmark-key-012345"))
        oneself = ReadScope(all=False, ids=frozenset({USER}))

        async def through_sqlalchemy(statement: object, parameters: dict[str, str]) -> object:
            async with database.reader.connect() as connection:
                return (await connection.execute(statement, parameters)).one_or_none()  # type: ignore[call-overload]

        cases: dict[str, Call] = {
            "token state  sqlalchemy": lambda: through_sqlalchemy(STATE, {"user_id": USER}),
            "token state  direct": lambda: states.current(USER),
            "user by id   sqlalchemy": lambda: through_sqlalchemy(ROW, {"id": USER}),
            "user by id   direct": lambda: queries.by_ids(oneself, [USER], with_roles=False),
        }
        cache = TokenStateCache(states.current)
        async with token_state_notices(database, cache):
            if database.dialect == "postgresql":
                for _ in range(1000):  # the listener's first check makes the cache trusted
                    if cache.trusted:
                        break
                    await asyncio.sleep(0.01)
                cases["token state  cached"] = lambda: cache.current(USER)
            results = await measure(cases, calls, rounds)
        baseline = {
            "token state": results["token state  sqlalchemy"],
            "user by id": results["user by id   sqlalchemy"],
        }
        for name, cpu in results.items():
            ratio = cpu / baseline[name[:11].strip()]
            print(f"{label:9} {name:26} {cpu:9.1f} µs CPU/call  {ratio:6.2f}x sqlalchemy")
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", nargs="?", default=DEFAULT_SERVER)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--calls", type=int, default=2000, help="calls per repetition")
    parser.add_argument("--rounds", type=int, default=7, help="repetitions of each case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'kingdom.db'}"
        await run("sqlite", url, args.calls, args.rounds)
    if args.no_postgres:
        return
    async with throwaway_database(args.server) as database:
        await run("postgres", database.url, args.calls, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
