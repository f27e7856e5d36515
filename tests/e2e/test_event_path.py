"""One event path, end to end: a GraphQL mutation's event reaches a worker's effect.

The effect is the audit trail's entry for the event, written by the worker
handler through the inbox. Two deployments, each on SQLite and PostgreSQL:

- zero configuration: the server relays its outbox to in-process workers;
- SQS: the server relays to a queue on moto's server (over HTTP), and a
  separate poller process feeds the queue to the Lambda handler.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx

from e2e.client import GraphQLClient
from e2e.server import run_server
from integration.workers.sqs import aws_environment, make_queues

pytest_plugins = ["integration.workers.sqs"]

REGISTER = "mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }"
AUDITED_REGISTRATIONS = (
    "SELECT count(*) FROM audit_entries WHERE event_type = 'identity.UserRegistered'"
    " AND summary LIKE '%<{email}>%'"
)
COUNT_UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"

T = TypeVar("T")


def scalar(backend: Mapping[str, str], data_dir: Path, statement: str) -> int:
    """One number from the server's database, read directly (not through the API)."""
    url = backend.get("KINGDOM_DATABASE_URL")
    if url is None:
        with sqlite3.connect(data_dir / "kingdom.db") as connection:
            return int(connection.execute(statement).fetchone()[0])

    async def read() -> int:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return int(await connection.fetchval(statement))
        finally:
            await connection.close()

    return asyncio.run(read())


def wait_for(condition: str, probe: Callable[[], T], expected: T, polls: int = 1200) -> None:
    """Poll until ``probe()`` gives ``expected``; bounded by polls, not by a clock."""
    seen = probe()
    for _ in range(polls):
        if seen == expected:
            break
        time.sleep(0.1)
        seen = probe()
    assert seen == expected, f"{condition}: {seen}, expected {expected}"


def register(base_url: str, email: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        GraphQLClient(http).ok(
            REGISTER,
            {
                "input": {
                    "email": email,
                    "displayName": "Newcomer",
                    "password": "a long enough password",
                }
            },
        )


def test_embedded_workers_see_the_mutation(tmp_path: Path, backend: dict[str, str]) -> None:
    with run_server(tmp_path, backend) as server:
        assert "events: handled by in-process workers" in server.output()
        register(server.base_url, "embedded@example.org")
        audited = AUDITED_REGISTRATIONS.format(email="embedded@example.org")
        wait_for("audit entries of the registration", lambda: scalar(backend, tmp_path, audited), 1)
        wait_for("unpublished outbox rows", lambda: scalar(backend, tmp_path, COUNT_UNPUBLISHED), 0)
        output = server.stop()
    assert "Traceback" not in output


@contextmanager
def run_poller(env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kingdom.workers.poller"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()


def test_sqs_and_a_poller_carry_the_mutation_to_the_worker(
    tmp_path: Path, backend: dict[str, str], sqs_endpoint: str
) -> None:
    queues = make_queues(sqs_endpoint)
    env = {
        **backend,
        **aws_environment(sqs_endpoint),
        "KINGDOM_SQS_QUEUE_URL": queues.url,
        "KINGDOM_DATA_DIR": str(tmp_path),
        "KINGDOM_POLLER_WAIT_SECONDS": "1",
    }
    with run_server(tmp_path, env) as server:
        assert f"events: relayed to {queues.url}" in server.output()
        with run_poller(env) as poller:
            register(server.base_url, "queued@example.org")
            audited = AUDITED_REGISTRATIONS.format(email="queued@example.org")
            wait_for(
                "audit entries of the registration",
                lambda: scalar(backend, tmp_path, audited),
                1,
            )
            poller.send_signal(signal.SIGINT)
            poller_output = poller.communicate(timeout=40)[0].decode()
        assert poller.returncode == 0, poller_output
        assert scalar(backend, tmp_path, COUNT_UNPUBLISHED) == 0
        server_output = server.stop()
    assert queues.receive_all(wait=0) == []
    assert queues.receive_all(queues.dead_letter_url, wait=0) == []
    assert "Traceback" not in server_output + poller_output
