"""CPU instructions per request of ``benchmarks:http``'s cases, counted by valgrind.

Usage: ./pants run benchmarks:instructions -- [--cases d] [--requests 400]
       [--postgres URL | --no-postgres]

Wall-clock CPU time on a shared machine moves with its neighbours; the
number of instructions a request executes does not. For each case this
runs the app in-process (the same ASGI app uvicorn serves, called directly,
with a seeded database: 10 owners and 60 accounts made through the API)
under ``valgrind --tool=cachegrind``, twice: with 40 measured requests and
with 40 + ``--requests``. The difference, divided by ``--requests``, is the
instructions of one request in this process (on PostgreSQL the database's
own work is another process's). Set-up differs a little between two runs
(random ids, garbage collection): about ±4 % of (d) at 400 requests. The
count also holds what the app's lifespan does by the clock, not per request
(the outbox relay looks every 200 ms, the metrics are flushed every second):
valgrind's slowness stretches that over the run, and a slower machine adds
more. For (d) that is a few per cent; for (b), whose requests are ~30 times
cheaper, it can be a third of the figure (seen: 119,000 to 211,000), so compare
(c) and (d). Use it to compare two commits; ``benchmarks:http`` tells the time.

Each run takes a minute or two (valgrind is ~30x slower). Needs valgrind
(``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from http_bench import (
    ADMIN_PASSWORD,
    DEPOSIT,
    KINGDOM_CASES,
    LOGIN,
    OPEN_ACCOUNT,
    OWNERS,
    REGISTER,
    account_input,
    deposit_input,
    fresh_postgres,
    login_input,
    on_client_loop,
    owner_input,
    postgres_reachable,
)

BASELINE = 40
WARM_UP = 300
ACCOUNTS = 60
"""As many as benchmarks:http seeds by default."""
Asgi = Callable[..., Awaitable[None]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="d", help="of benchmarks:http's b, c, d")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        on_client_loop(_serve_in_process(args.child[0], int(args.child[1])))  # uvloop, as served
        return
    if shutil.which("valgrind") is None:
        sys.exit("benchmarks:instructions needs valgrind (apt-get install valgrind)")
    if args.requests < 1 or not set(args.cases) <= {"b", "c", "d"}:
        parser.error("--requests must be positive and --cases among b, c, d")
    print(f"{'case':<36}{'database':<10}{'instructions/request':>22}")
    for database, url in _databases(args):
        for key in args.cases:
            label = next(case.label for case in KINGDOM_CASES if case.key == key)
            counted = _count(key, url, args.requests)
            print(f"({key}) {label:<32}{database:<10}{counted:>22,.0f}", flush=True)


def _databases(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    if not args.no_postgres:
        unreachable = postgres_reachable(args.postgres)
        if unreachable is None:
            databases.append(("postgres", args.postgres))
        else:
            print(f"PostgreSQL skipped: {unreachable}", file=sys.stderr)
    return databases


def _count(case: str, postgres: str | None, requests: int) -> float:
    """Instructions per request: two runs under cachegrind, the difference per request."""
    counts = [_instructions(case, n, postgres) for n in (BASELINE, BASELINE + requests)]
    return (counts[1] - counts[0]) / requests


def _instructions(case: str, requests: int, postgres: str | None) -> int:
    """One run on fresh data: its own directory, and its own PostgreSQL database."""
    if postgres is None:
        return _run_counted(case, requests, {})
    with fresh_postgres(postgres) as (_, url):
        return _run_counted(case, requests, {"KINGDOM_DATABASE_URL": url})


def _run_counted(case: str, requests: int, env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory(prefix="kingdom-instructions-") as data:
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                "--cachegrind-out-file=/dev/null",
                sys.executable,
                "-m",
                "instructions",  # by module, as http_bench starts its servers (pex or not)
                "--child",
                case,
                str(requests),
            ],
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                "KINGDOM_DATA_DIR": data,
                "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
                **env,
            },
            capture_output=True,
            text=True,
            check=False,
        )
    found = re.search(r"I\s+refs:\s+([\d,]+)", completed.stderr)
    if completed.returncode != 0 or found is None:
        sys.exit(f"the in-process run failed:\n{completed.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


# --- the child: the app, in this process -------------------------------------------------


async def _serve_in_process(key: str, requests: int) -> None:
    from kingdom.entrypoints.asgi import create
    from kingdom.entrypoints.server import prepare
    from kingdom.entrypoints.settings import Settings

    await prepare(Settings.from_environ(os.environ))
    app = create()
    startup: asyncio.Queue[Any] = asyncio.Queue()
    replies: asyncio.Queue[Any] = asyncio.Queue()

    async def reply(message: Any) -> None:
        await replies.put(message)

    await startup.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan: asyncio.Future[None] = asyncio.ensure_future(app(scope, startup.get, reply))
    await replies.get()
    token = await _seed(app)
    case = next(case for case in KINGDOM_CASES if case.key == key)
    body = json.dumps({"query": case.query}).encode()
    shown = token if case.authenticated else ""
    for _ in range(WARM_UP + requests):
        answer = json.loads(await _post(app, body, shown))
        if case.check(answer) is not None:
            sys.exit(f"({key}) answered {answer}")
    await startup.put({"type": "lifespan.shutdown"})
    await replies.get()
    await lifespan


async def _seed(app: Asgi) -> str:
    """``benchmarks:http``'s data, made through the API; the administrator's token."""
    token: str = (await _graphql(app, LOGIN, login_input()))["login"]["accessToken"]
    owners = [
        (await _graphql(app, REGISTER, owner_input(n)))["registerUser"]["userId"]
        for n in range(OWNERS)
    ]
    for n in range(ACCOUNTS):
        opened = await _graphql(app, OPEN_ACCOUNT, account_input(owners, n), token)
        account = opened["openAccount"]["accountId"]
        await _graphql(app, DEPOSIT, deposit_input(account, n), token)
    return token


async def _graphql(app: Asgi, query: str, variables: dict[str, Any], token: str = "") -> Any:
    answer = json.loads(
        await _post(app, json.dumps({"query": query, "variables": variables}).encode(), token)
    )
    if answer.get("errors"):
        sys.exit(f"seeding failed: {answer['errors']}")
    return answer["data"]


async def _post(app: Asgi, body: bytes, token: str) -> bytes:
    headers = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    received = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


if __name__ == "__main__":
    main()
