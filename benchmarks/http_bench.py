"""Requests/s and server CPU per request over real HTTP, against a minimal ASGI ceiling.

Usage: ./pants run benchmarks:http -- [--quick] [--postgres URL | --no-postgres]
       [--workers 1,2] [--connections 16] [--warmup 1] [--duration 5] [--accounts 60]

In one run, for 1 and 2 uvicorn workers, it measures:

  (a) a minimal ASGI app answering fixed JSON, served by Kingdom's own
      ``uvicorn.run`` options (see minimal_asgi.py): the ceiling here;
  (b) ``{ __typename }`` through Kingdom's POST /graphql;
  (c) ``viewer { id email }`` with the administrator's access token;
  (d) ``accounts(first: 50)`` with each account's owner, over accounts and
      owners created through the API;
  (e) the ``transfer`` mutation, each connection moving 1 cent between its
      own two accounts (opened and funded through the API first): the whole
      write path, idempotency bookkeeping, row locks and the outbox included;
  (f) two root fields in one query (a page of 50 balances and ``nodes`` for
      10 of them), which read from one snapshot (a read-only transaction),

(b)-(d) on the embedded SQLite and on a fresh PostgreSQL database (created,
migrated with ``kingdom.entrypoints.migrate`` and dropped again). Each server
is the real one, ``python -m kingdom.entrypoints.server``, in a child process
with its data dir in a temporary directory.

The load comes from http_load.py (asyncio protocols, keep-alive, pre-encoded
requests) in this process; every answer must be a 200 without GraphQL errors
and sampled bodies are checked in full, so an error path cannot pass for a
fast one. Server CPU is read from /proc for the server's whole process tree;
for PostgreSQL the CPU of its backends serving the benchmark database is shown
separately. Each req/s is printed as a ratio to (a) with the same number of
workers, and each 2-worker figure as a ratio to its 1-worker figure.

Nothing here asserts a time (the machine is shared and noisy): targets are
printed as met or missed. The "other" column is CPU that neither the server,
the database nor this client used during the window, in % of one core:
when it is high, another program was competing and the row is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import minimal_asgi
from http_load import LoadResult, Meter, encode_post, run_load
from http_server import (
    ProcessStat,
    Server,
    all_processes,
    cmdline,
    machine_busy_seconds,
    serve,
)

from kingdom.entrypoints.admin import ADMIN_EMAIL

ADMIN_PASSWORD = "benchmark-admin-password"
OWNERS = 10
KINGDOM = "kingdom.entrypoints.server"
CEILING = "minimal_asgi"
T = TypeVar("T")


Prepare = Callable[[Server, str, int], list[dict[str, Any]]]
"""Sets up what a case needs on the server (given the administrator's token and the number
of connections) and returns the request payloads to spread over the connections."""


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    query: str
    authenticated: bool
    check: Callable[[Any], str | None]
    """Inspects the decoded JSON of a sampled body."""
    prepare: Prepare | None = None
    """None: every connection sends ``query`` as it is."""


def _typename(body: Any) -> str | None:
    return None if body == {"data": {"__typename": "Query"}} else "not data.__typename = Query"


def _viewer(body: Any) -> str | None:
    viewer = (body.get("data") or {}).get("viewer") or {}
    ok = viewer.get("email") == ADMIN_EMAIL and viewer.get("id")
    return None if ok else f"viewer is not {ADMIN_EMAIL}"


def _accounts(body: Any) -> str | None:
    edges = (((body.get("data") or {}).get("accounts")) or {}).get("edges") or []
    if len(edges) != 50:
        return f"{len(edges)} accounts, expected 50"
    if not all(edge["node"]["owner"] and edge["node"]["owner"]["email"] for edge in edges):
        return "an account without its owner's email"
    return None


def _transferred(body: Any) -> str | None:
    payload = (body.get("data") or {}).get("transfer") or {}
    return None if payload.get("transferId") else "no transferId"


def _snapshot(body: Any) -> str | None:
    data = body.get("data") or {}
    edges = (data.get("accounts") or {}).get("edges") or []
    nodes = data.get("nodes") or []
    if len(edges) != 50 or len(nodes) != 10:
        return f"{len(edges)} accounts and {len(nodes)} nodes, expected 50 and 10"
    if not all(node and node.get("balance") is not None for node in nodes):
        return "a node without its balance"
    return None


TRANSFER = "mutation($input: TransferInput!) { transfer(input: $input) { transferId } }"
SNAPSHOT = (
    "query($ids: [ID!]!) { accounts(first: 50) { edges { node { id balance } } } "
    "nodes(ids: $ids) { ... on Account { id balance } } }"
)


def _transfer_pairs(server: Server, token: str, connections: int) -> list[dict[str, Any]]:
    """Two fresh accounts per connection, the first funded for any run's worth of transfers."""
    owner = graphql(server, "query { viewer { id } }", token=token)["viewer"]["id"]
    payloads = []
    for _ in range(connections):
        source, target = (open_account(server, token, owner) for _ in range(2))
        deposit(server, token, source, 10**9)
        payloads.append(
            {
                "query": TRANSFER,
                "variables": {"input": {"sourceId": source, "targetId": target, "amount": 1}},
            }
        )
    return payloads


def _snapshot_ids(server: Server, token: str, connections: int) -> list[dict[str, Any]]:
    page = graphql(server, "query { accounts(first: 10) { edges { node { id } } } }", token=token)
    ids = [edge["node"]["id"] for edge in page["accounts"]["edges"]]
    return [{"query": SNAPSHOT, "variables": {"ids": ids}}]


CEILING_CASE = Case("a", "minimal ASGI", "{ __typename }", False, _typename)
KINGDOM_CASES = (
    Case("b", "{ __typename }", "{ __typename }", False, _typename),
    Case("c", "viewer { id email }", "query { viewer { id email } }", True, _viewer),
    Case(
        "d",
        "accounts(first: 50) + owner",
        "query { accounts(first: 50) { edges { node { id balance owner { email } } } } }",
        True,
        _accounts,
    ),
    Case("e", "transfer (1 cent, own pair)", TRANSFER, True, _transferred, _transfer_pairs),
    Case("f", "accounts(50) + nodes(10)", SNAPSHOT, True, _snapshot, _snapshot_ids),
)


@dataclass(frozen=True)
class Row:
    case: Case
    database: str
    workers: int
    result: LoadResult

    @property
    def server_us(self) -> float:
        return _per_request(self.result, self.result.usage["server"])

    @property
    def db_seconds(self) -> float:
        """CPU of the PostgreSQL backends serving the benchmark database."""
        return sum(v for k, v in self.result.usage.items() if k.startswith("db:"))

    @property
    def db_lost(self) -> bool:
        """A backend exited during the window, so ``db_seconds`` misses its share."""
        return any(k.startswith("db:") for k in self.result.vanished)

    @property
    def valid(self) -> bool:
        return self.result.failures == 0 and self.result.requests > 0


def _per_request(result: LoadResult, seconds: float) -> float:
    return seconds / result.requests * 1e6 if result.requests else float("nan")


# --- talking to the server while setting up ---------------------------------------------


def graphql(
    server: Server, query: str, variables: Mapping[str, Any] | None = None, token: str = ""
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"http://127.0.0.1:{server.port}/graphql",
        json={"query": query, "variables": dict(variables or {})},
        headers=headers,
        timeout=60,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{query.split('(')[0]} failed: HTTP {response.status_code} {body}")
    return body["data"]


LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"
REGISTER = "mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }"
OPEN_ACCOUNT = "mutation($input: OpenAccountInput!) { openAccount(input: $input) { accountId } }"
DEPOSIT = "mutation($input: DepositInput!) { deposit(input: $input) { accountId } }"


def login_input() -> dict[str, Any]:
    return {"input": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}


def owner_input(n: int) -> dict[str, Any]:
    """The ``n``-th owner the benchmarks register."""
    return {
        "input": {
            "email": f"owner{n}@bench.example.org",
            "displayName": f"Owner {n}",
            "password": "benchmark-owner-password",
        }
    }


def account_input(owners: Sequence[str], n: int) -> dict[str, Any]:
    """The ``n``-th account to open (the owners take turns)."""
    return {"input": {"ownerId": owners[n % len(owners)], "currency": "EUR"}}


def deposit_input(account: str, n: int) -> dict[str, Any]:
    """The ``n``-th account's funding: a different balance for each."""
    return {"input": {"accountId": account, "amount": 100 * (n + 1)}}


def login(server: Server) -> str:
    token: str = graphql(server, LOGIN, login_input())["login"]["accessToken"]
    return token


def seed(server: Server, token: str, accounts: int) -> None:
    """Owners and funded accounts, made through the API like any client would."""
    owners = [
        graphql(server, REGISTER, owner_input(n))["registerUser"]["userId"] for n in range(OWNERS)
    ]
    for n in range(accounts):
        opened = graphql(server, OPEN_ACCOUNT, account_input(owners, n), token)
        graphql(server, DEPOSIT, deposit_input(opened["openAccount"]["accountId"], n), token)


def open_account(server: Server, token: str, owner: str) -> str:
    opened = graphql(server, OPEN_ACCOUNT, account_input([owner], 0), token)
    account: str = opened["openAccount"]["accountId"]
    return account


def deposit(server: Server, token: str, account: str, amount: int) -> None:
    graphql(server, DEPOSIT, {"input": {"accountId": account, "amount": amount}}, token)


# --- measuring ---------------------------------------------------------------------------


def _postgres_backends(processes: Sequence[ProcessStat], database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving ``database``, by pid.

    A backend's title names its database: "postgres: user database host(port) state".
    """
    found = {}
    for stat in processes:
        if stat.name != "postgres":
            continue
        if f" {database} ".encode() in cmdline(stat.pid).replace(b"\0", b" "):
            found[stat.pid] = stat.cpu
    return found


def make_meter(server: Server, postgres_database: str | None) -> Meter:
    def meter() -> dict[str, float]:
        processes = all_processes()
        tree = server.cpu(processes)
        usage = {
            "server": sum(tree.values()),
            "client": time.process_time(),
            "machine": machine_busy_seconds(),
        }
        if postgres_database is not None:
            # By backend: the pool opens and closes connections (overflow), and
            # a backend that exits takes its CPU time with it.
            backends = _postgres_backends(processes, postgres_database)
            usage.update({f"db:{pid}": cpu for pid, cpu in backends.items()})
        for pid in server.worker_pids(processes):
            usage[f"worker:{pid}"] = tree.get(pid, 0.0)
        return usage

    return meter


@dataclass(frozen=True)
class Load:
    connections: int
    warmup: float
    duration: float


async def measure(
    case: Case,
    database: str,
    server: Server,
    load: Load,
    token: str = "",
    postgres_database: str | None = None,
) -> Row:
    headers = {"Authorization": f"Bearer {token}"} if case.authenticated else {}
    payloads = (
        case.prepare(server, token, load.connections) if case.prepare else [{"query": case.query}]
    )
    requests = [
        encode_post("127.0.0.1", server.port, "/graphql", json.dumps(payload).encode(), headers)
        for payload in payloads
    ]

    def check(body: bytes) -> str | None:
        if case.key == "a" and body != minimal_asgi.BODY:
            return "not the minimal app's body"
        try:
            return case.check(json.loads(body))
        except (ValueError, AttributeError, KeyError, TypeError) as error:
            return f"unreadable: {error!r}"

    result = await run_load(
        "127.0.0.1",
        server.port,
        requests,
        connections=load.connections,
        warmup=load.warmup,
        duration=load.duration,
        check=check,
        meter=make_meter(server, postgres_database),
        rebalance=server.spread,
    )
    row = Row(case, database, server.workers, result)
    status = "ok" if row.valid else f"FAILED: {result.first_failure}"
    print(
        f"  ({case.key}) {database:<8} w={server.workers}: {result.rate:>9,.0f} req/s "
        f"{row.server_us:>7,.0f} µs/req  {status}"
        + (f" ({result.reopened} connections reopened to spread them)" if result.reopened else ""),
        file=sys.stderr,
        flush=True,
    )
    return row


def on_client_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop when it is installed: cheaper per request."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        # Not a requirement of its own: it comes with uvicorn[standard].
        import uvloop  # pants: no-infer-dep

        factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


# --- PostgreSQL --------------------------------------------------------------------------


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[tuple[str, str]]:
    """A new, migrated database on ``server_url``; dropped on exit. Yields (name, async URL)."""
    name = f"kingdom_http_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(server_url)
    url = urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))
    try:
        # The operator's path: a shared Postgres is migrated on purpose, not on start.
        subprocess.run(
            [sys.executable, "-m", "kingdom.entrypoints.migrate", "upgrade", "head"],
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                "KINGDOM_DATABASE_URL": url,
            },
            check=True,
            capture_output=True,
        )
        yield name, url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_reachable(server_url: str) -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(server_url, timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return str(error) or type(error).__name__
    return None


# --- the run -----------------------------------------------------------------------------


def run_ceiling(workdir: Path, workers: int, load: Load) -> Row:
    data_dir = workdir / "ceiling"
    env = {"KINGDOM_DATA_DIR": str(data_dir), "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD}
    log = workdir / f"ceiling-w{workers}.log"
    with serve(CEILING, env, workers, log) as server:
        return on_client_loop(measure(CEILING_CASE, "-", server, load))


def run_kingdom(
    workdir: Path,
    database: str,
    env: Mapping[str, str],
    workers: int,
    load: Load,
    seed_accounts: int,
    cases: tuple[Case, ...] = KINGDOM_CASES,
    postgres_database: str | None = None,
) -> list[Row]:
    """Cases (b)-(f) on one server; ``seed_accounts`` > 0 first fills its fresh database."""
    log = workdir / f"{database}-w{workers}.log"
    with serve(KINGDOM, env, workers, log) as server:
        token = login(server)
        if seed_accounts:
            seed(server, token, seed_accounts)
        return [
            on_client_loop(measure(case, database, server, load, token, postgres_database))
            for case in cases
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.5 s warm-up, 2 s per case")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--workers", default="1,2", help="comma-separated uvicorn worker counts")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per case")
    parser.add_argument("--accounts", type=int, default=60, help="accounts to seed (>= 50)")
    parser.add_argument("--cases", default="abcdef", help="which cases to run, e.g. 'ac'")
    args = parser.parse_args()
    if args.accounts < 50:
        parser.error("--accounts must be at least 50: (d) reads a page of 50")
    if args.quick:
        args.warmup, args.duration = 0.5, 2.0
    worker_counts = sorted({int(w) for w in args.workers.split(",")})
    cases = tuple(case for case in KINGDOM_CASES if case.key in args.cases)
    load = Load(args.connections, args.warmup, args.duration)
    busy = _busy_before()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="kingdom-http-") as tmp:
        workdir = Path(tmp)
        print(
            f"measuring ({load.warmup:g} s warm-up + {load.duration:g} s per case)...",
            file=sys.stderr,
        )
        for workers in worker_counts if "a" in args.cases else ():
            rows.append(run_ceiling(workdir, workers, load))
        options = _uvicorn_options(workdir / f"ceiling-w{worker_counts[0]}.log")
        sqlite_env = {
            "KINGDOM_DATA_DIR": str(workdir / "sqlite"),
            "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        for workers in worker_counts:
            seeding = args.accounts if workers == worker_counts[0] else 0
            rows += run_kingdom(workdir, "sqlite", sqlite_env, workers, load, seeding, cases)
        skipped = "--no-postgres" if args.no_postgres else postgres_reachable(args.postgres)
        if skipped is None:
            with fresh_postgres(args.postgres) as (name, url):
                env = {
                    "KINGDOM_DATA_DIR": str(workdir / "postgres"),
                    "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "KINGDOM_DATABASE_URL": url,
                }
                for workers in worker_counts:
                    seeding = args.accounts if workers == worker_counts[0] else 0
                    rows += run_kingdom(
                        workdir, "postgres", env, workers, load, seeding, cases, name
                    )

    print_report(rows, load, options, skipped, busy)
    sys.exit(0 if all(row.valid for row in rows) else 1)


def _busy_before(seconds: float = 1.0) -> float:
    """How busy the machine is before we start, in cores: other programs make figures noisy."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def _uvicorn_options(log: Path) -> str:
    if not log.exists():
        return "(not shown: the ceiling did not run)"
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("minimal_asgi: uvicorn options "):
            return line.removeprefix("minimal_asgi: uvicorn options ")
    return "(unknown: the server did not call uvicorn.run)"


# --- the report --------------------------------------------------------------------------


def print_report(
    rows: list[Row], load: Load, options: str, postgres_skipped: str | None, busy: float
) -> None:
    ceiling = {row.workers: row for row in rows if row.case.key == "a"}
    by_key = {(row.case.key, row.database, row.workers): row for row in rows}
    print(
        f"HTTP benchmark: {os.cpu_count()} CPUs, {load.connections} keep-alive connections, "
        f"{load.warmup:g} s warm-up + {load.duration:g} s per case, Python {sys.version.split()[0]}"
    )
    print(f"uvicorn options (Kingdom's and the ceiling's): {options}")
    quiet = "quiet" if busy < 0.25 else "BUSY: figures are noisy, compare the 'other' column"
    print(f"before starting, other programs used {100 * busy:.0f}% of one core ({quiet})")
    if postgres_skipped:
        print(f"PostgreSQL skipped: {postgres_skipped}")
    print()
    header = (
        f"{'case':<33} {'db':<8} {'w':>1} {'req/s':>8} {'x(a)':>6} {'2w/1w':>6} "
        f"{'srv µs':>7} {'x(a)µs':>6} {'db µs':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'cli µs':>6} {'split':>7} {'other':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        result, base = row.result, ceiling.get(row.workers)
        one = by_key.get((row.case.key, row.database, 1))
        ratio = f"{result.rate / base.result.rate:.2f}" if base and base.valid else "-"
        scale = (
            f"{result.rate / one.result.rate:.2f}"
            if row.workers == 2 and one and one.valid
            else "-"
        )
        cpu_ratio = f"{row.server_us / base.server_us:.1f}" if base and base.valid else "-"
        db = "-"
        if row.database == "postgres":
            db = f"{'>' if row.db_lost else ''}{_per_request(result, row.db_seconds):,.0f}"
        client_us = _per_request(result, result.usage["client"])
        used = result.usage["server"] + result.usage["client"] + row.db_seconds
        other = max(0.0, result.usage["machine"] - used)  # clock ticks round: never below 0
        workers = sorted(v for k, v in result.usage.items() if k.startswith("worker:"))
        split = (
            "/".join(f"{100 * v / sum(workers):.0f}" for v in workers)
            if len(workers) > 1 and sum(workers) > 0
            else "-"
        )
        label = f"({row.case.key}) {row.case.label}"
        print(
            f"{label:<33} {row.database:<8} {row.workers:>1} {result.rate:>8,.0f} {ratio:>6} "
            f"{scale:>6} {row.server_us:>7,.0f} {cpu_ratio:>6} "
            f"{db:>6} "
            f"{result.percentile(0.5) * 1e3:>7.2f} {result.percentile(0.99) * 1e3:>7.2f} "
            f"{client_us:>6,.0f} {split:>7} {100 * other / result.seconds:>5.0f}%"
        )
        if not row.valid:
            print(f"    FAILED ({result.failures} bad answers): {result.first_failure}")
    print()
    print(
        "req/s x(a): throughput against the ceiling with the same workers; srv µs: server CPU\n"
        "(all uvicorn processes) per request, x(a)µs: that against the ceiling's; db µs: the\n"
        "PostgreSQL backends' CPU per request ('>': a backend exited mid-window, taking its\n"
        "CPU time along); cli µs: this load generator's CPU per request;\n"
        "split: CPU share of each worker; other: CPU used by anything else, % of one core."
    )
    checked = sum(row.result.checked for row in rows)
    answers = sum(row.result.requests for row in rows)
    print(
        f"Every answer was checked for HTTP 200 and no GraphQL errors; {checked:,} sampled "
        f"bodies were checked in full (~{answers:,} measured answers)."
    )
    print()
    print_targets(rows, ceiling, by_key)


CPU_TARGETS: Mapping[str, float] = {"b": 2.5, "c": 10.0, "d": 30.0}
"""Server CPU per request at most this multiple of the ceiling's (a), same workers."""


def print_targets(
    rows: list[Row], ceiling: Mapping[int, Row], by_key: Mapping[tuple[str, str, int], Row]
) -> None:
    """Each target, met or missed.

    The CPU targets compare server CPU per request with the ceiling's in the
    same run (what other programs on the machine skew least); (c) counts on
    PostgreSQL, and SQLite must be no dearer than PostgreSQL there. Scaling
    compares req/s of 2 workers with 1 (PostgreSQL rows of (c) and (d)).
    """
    checks: list[tuple[str, str, float | None, bool]] = []  # (target, where, value, met)

    def ratio(numerator: float | None, denominator: float | None) -> float | None:
        return numerator / denominator if numerator and denominator else None

    for row in rows:
        where = f"{row.database} w={row.workers}"
        key, valid = row.case.key, row.valid
        base = ceiling.get(row.workers)
        goal = CPU_TARGETS.get(key)
        if goal is not None and not (key == "c" and row.database == "sqlite"):
            times = ratio(row.server_us if valid else None, base.server_us if base else None)
            checks.append(
                (f"({key}) server CPU <= {goal:g}x (a)", where, times, (times or 0) <= goal)
            )
        if key == "c" and row.database == "sqlite":
            postgres = by_key.get(("c", "postgres", row.workers))
            dearer = ratio(
                row.server_us if valid else None,
                postgres.server_us if postgres and postgres.valid else None,
            )
            checks.append(("(c) SQLite CPU <= PostgreSQL's", where, dearer, (dearer or 0) <= 1))
        one = by_key.get((key, row.database, 1))
        if row.workers == 2 and one is not None and key in "cd" and row.database == "postgres":
            scale = ratio(
                row.result.rate if valid else None, one.result.rate if one.valid else None
            )
            checks.append((f"({key}) 2 workers >= 1.7x one", where, scale, (scale or 0) >= 1.7))
    print(f"{'target':<34} {'where':<16} {'value':>7}  verdict")
    for target, where, value, met in checks:
        shown = "-" if value is None else f"{value:.2f}x"
        verdict = "not measured" if value is None else ("met" if met else "MISSED")
        print(f"{target:<34} {where:<16} {shown:>7}  {verdict}")


if __name__ == "__main__":
    main()
