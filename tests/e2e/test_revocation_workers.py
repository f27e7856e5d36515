"""Revocation with 2 uvicorn workers: a password change or a disabled account stops a token on both.

On PostgreSQL each worker caches token states while its listener vouches for
them (:mod:`kingdom.adapters.identity.token_state_cache`); on SQLite each
reads the file every time. Either way, once the change committed, every
request with the old token must be refused, whichever worker serves it.

Load runs all along on new connections (so the kernel hands them to either
worker, and the PostgreSQL caches stay warm and trusted). Which worker
counted what is read from each worker's own metrics file. Waits are bounded
by a number of polls; how long a worker still accepted the token after the
commit is measured and reported, never asserted (the machine is shared).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from e2e.client import GraphQLClient
from e2e.server import RunningServer, run_server

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@kingdom.local", "admin password for revocation"
PASSWORD, NEW_PASSWORD = "first long password", "second long password"
VIEWER = {"query": "query Viewer { viewer { id } }", "operationName": "Viewer"}
REGISTER = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
CHANGE_PASSWORD = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { userId } }"
DISABLE = "mutation($i: DisableUserInput!) { disableUser(input: $i) { userId } }"
POLLS = 3000
POLL = 0.1
LOADERS = 4


@dataclass
class Running:
    server: RunningServer
    metrics_dir: Path
    scratch: Path
    postgres: bool


@pytest.fixture(scope="module")
def running(backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("data")
    env = {"KINGDOM_WORKERS": "2", "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD, **backend}
    with run_server(data_dir, env) as server:
        for _ in range(POLLS):
            if server.output().count("Application startup complete") >= 2:
                break
            time.sleep(POLL)
        assert server.output().count("Application startup complete") == 2, server.output()
        yield Running(
            server,
            data_dir / "metrics",
            tmp_path_factory.mktemp("alone"),
            "KINGDOM_DATABASE_URL" in backend,
        )


def per_worker(running: Running, name: str, labels: dict[str, str]) -> dict[str, float]:
    """``name{labels}`` as each process counted it, from its own file alone (by pid)."""
    counts: dict[str, float] = {}
    for values in running.metrics_dir.glob("counter_*.db"):
        alone = running.scratch / values.stem
        alone.mkdir(parents=True, exist_ok=True)
        shutil.copy(values, alone / values.name)
        collected = MultiProcessCollector(None, path=str(alone)).collect()  # type: ignore[no-untyped-call]
        counts[values.stem] = sum(
            sample.value
            for family in collected
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )
    return counts


def viewers_answered(running: Running, outcome: str) -> dict[str, float]:
    return per_worker(
        running, "kingdom_http_requests_total", {"operation": "Viewer", "outcome": outcome}
    )


def served_from_cache(running: Running) -> dict[str, float]:
    return per_worker(running, "kingdom_token_state_checks_total", {"source": "cache"})


def grew_on_both(before: dict[str, float], now: dict[str, float]) -> bool:
    return sum(1 for pid, n in now.items() if n > before.get(pid, 0)) >= 2


@dataclass
class Load:
    """Viewer requests with ``token``, on new connections, from a few threads, until stopped."""

    base_url: str
    token: str
    answers: list[tuple[float, int]] = field(default_factory=list)  # (sent, status)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            status = httpx.post(
                f"{self.base_url}/graphql",
                json=VIEWER,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
            ).status_code
            with self._lock:
                self.answers.append((sent, status))

    def since(self, moment: float) -> list[tuple[float, int]]:
        with self._lock:
            return [answer for answer in self.answers if answer[0] >= moment]

    @contextmanager
    def running(self) -> Iterator[Load]:
        with ThreadPoolExecutor(max_workers=LOADERS) as pool:
            futures = [pool.submit(self._run) for _ in range(LOADERS)]
            try:
                yield self
            finally:
                self._stop.set()
                for future in futures:
                    future.result()


def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(POLLS):
        if condition():
            return
        time.sleep(POLL)
    raise AssertionError(f"not after {POLLS} polls: {what}")


def warm(running: Running) -> None:
    """Until both workers answered the load, from their caches on PostgreSQL."""
    if running.postgres:
        before = served_from_cache(running)
        until(lambda: grew_on_both(before, served_from_cache(running)), "both workers cached")
    else:
        before = viewers_answered(running, "ok")
        until(lambda: grew_on_both(before, viewers_answered(running, "ok")), "both answered")


def revoked_everywhere(
    running: Running, load: Load, committed: float, what: str, record: Callable[[str], None]
) -> None:
    """After the change committed: both workers refuse, and nothing is accepted after that."""
    refused_before = viewers_answered(running, "UNAUTHENTICATED")
    until(
        lambda: grew_on_both(refused_before, viewers_answered(running, "UNAUTHENTICATED")),
        f"both workers refusing after {what}",
    )
    settled = time.monotonic()  # both have refused the token at least once by now
    until(lambda: len(load.since(settled)) >= 40, "more answers")
    assert {status for _, status in load.since(settled)} == {401}, what
    since = load.since(committed)
    accepted_late = [sent - committed for sent, status in since if status == 200]
    first, last = (min(sent for sent, _ in since) - committed), (
        max(sent for sent, _ in since) - committed
    )
    record(
        f"measured revocation, {what}, {'postgres' if running.postgres else 'sqlite'}, "
        f"2 workers: of {len(since)} requests sent {first * 1000:.1f} to {last * 1000:.0f} ms "
        f"after the commit, {len(accepted_late)} were still accepted"
        + (f", the last sent {max(accepted_late) * 1000:.1f} ms after it" if accepted_late else "")
    )


def test_a_password_change_then_disabling_refuses_the_token_on_both_workers(
    running: Running, record_property: Callable[[str, object], None]
) -> None:
    def measured(name: str) -> Callable[[str], None]:
        return lambda line: record_property(f"measured revocation ({name})", line)

    base_url = running.server.base_url
    with httpx.Client(base_url=base_url, timeout=30) as http:
        api = GraphQLClient(http)
        email = f"revoked-{uuid.uuid4().hex[:8]}@example.org"
        user_id = api.ok(
            REGISTER, {"i": {"email": email, "displayName": "R", "password": PASSWORD}}
        )["registerUser"]["userId"]
        admin = api.ok(LOGIN, {"i": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}})["login"][
            "accessToken"
        ]
        first = api.ok(LOGIN, {"i": {"email": email, "password": PASSWORD}})["login"]["accessToken"]

        with Load(base_url, first).running() as load:
            warm(running)
            api.ok(
                CHANGE_PASSWORD,
                {"i": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}},
                token=first,
            )
            committed = time.monotonic()
            revoked_everywhere(running, load, committed, "password changed", measured("password"))

        second = api.ok(LOGIN, {"i": {"email": email, "password": NEW_PASSWORD}})["login"][
            "accessToken"
        ]
        with Load(base_url, second).running() as load:
            warm(running)
            api.ok(DISABLE, {"i": {"userId": user_id}}, token=admin)
            committed = time.monotonic()
            revoked_everywhere(running, load, committed, "user disabled", measured("disable"))
