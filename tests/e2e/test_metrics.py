"""``GET /metrics`` on the real server: two uvicorn workers' counts add up in every scrape."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from e2e.server import RunningServer, run_server

PING = {"query": "query Ping { __typename }", "operationName": "Ping"}
BAD_SIGN_UP = {
    # Refused while reading the variables: nothing runs, nothing is written.
    "query": "mutation SignUp($input: RegisterUserInput!) { registerUser(input: $input) { userId } }",
    "variables": {"input": {"email": 5}},
}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(text: str) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["operation"], dict(labels)["outcome"]): value
        for (name, labels), value in samples(text).items()
        if name == "kingdom_http_requests_total"
    }


def pings_per_worker(metrics_dir: Path, scratch: Path) -> list[float]:
    """``Ping`` requests each worker counted so far, read from its own value file alone."""
    counts = []
    for values in metrics_dir.glob("counter_*.db"):
        alone = scratch / values.stem
        alone.mkdir(parents=True, exist_ok=True)
        shutil.copy(values, alone / values.name)
        counted = MultiProcessCollector(None, path=str(alone)).collect()  # type: ignore[no-untyped-call]
        counts.append(
            sum(
                sample.value
                for family in counted
                for sample in family.samples
                if sample.name == "kingdom_http_requests_total"
                and sample.labels.get("operation") == "Ping"
            )
        )
    return counts


def scrape(server: RunningServer) -> str:
    return httpx.get(f"{server.base_url}/metrics", timeout=10).text


def ping(server: RunningServer) -> int:
    # A new connection each time, so the kernel may hand it to either worker.
    return httpx.post(f"{server.base_url}/graphql", json=PING, timeout=10).status_code


def test_every_scrape_adds_up_what_both_workers_counted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_server(data_dir, {"KINGDOM_WORKERS": "2"}) as server:
        metrics_dir = data_dir / "metrics"
        # Bounded by polls, not by a clock: a loaded machine only makes it slower.
        for _ in range(3000):
            if server.output().count("Application startup complete") >= 2:
                break
            time.sleep(0.1)
        assert server.output().count("Application startup complete") == 2, server.output()
        sent = 0
        # Until both workers have counted some (each in its own counter_<pid>.db):
        # concurrent connections spread over the workers quickly.
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(200):  # rounds of 16 requests
                if sum(1 for n in pings_per_worker(metrics_dir, tmp_path / "alone") if n) >= 2:
                    break
                assert set(pool.map(lambda _: ping(server), range(16))) == {200}
                sent += 16
        served = pings_per_worker(metrics_dir, tmp_path / "alone")
        assert sum(1 for n in served if n) == 2, "one worker served every request"
        bad = httpx.post(f"{server.base_url}/graphql", json=BAD_SIGN_UP)
        forged = httpx.post(
            f"{server.base_url}/graphql",
            json=PING,
            headers={"Authorization": "Bearer forged"},
        )
        # Each worker adds its latest counts within a second (FLUSH_SECONDS): wait for them.
        expected = {
            ("Ping", "ok"): sent,
            ("SignUp", "BAD_USER_INPUT"): 1,
            ("Ping", "UNAUTHENTICATED"): 1,
        }
        for _ in range(3000):
            if expected.items() <= requests_counted(scrape(server)).items():
                break
            time.sleep(0.1)
        assert expected.items() <= requests_counted(scrape(server)).items(), scrape(server)
        # Then several scrapes on new connections: whichever worker answers, the same sums.
        scrapes = [httpx.get(f"{server.base_url}/metrics") for _ in range(6)]

    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert forged.status_code == 401
    assert {answer.status_code for answer in scrapes} == {200}
    assert scrapes[0].headers["content-type"].startswith("text/plain")
    for answer in scrapes:
        counted = requests_counted(answer.text)
        assert {key: counted[key] for key in expected} == expected
    last = samples(scrapes[-1].text)
    histogram = (
        "kingdom_http_request_duration_seconds_count",
        frozenset({("operation_type", "query")}),
    )
    assert last[histogram] == sent + 1  # the refused token's Ping is a query too
    pool_states = {
        dict(labels)["state"]
        for (name, labels), _ in last.items()
        if name == "kingdom_db_pool_connections"
    }
    assert pool_states == {"in_use", "idle", "overflow"}
    assert last[("kingdom_outbox_unpublished", frozenset())] >= 0
    assert last[("kingdom_outbox_oldest_age_seconds", frozenset())] >= 0
    worker_outcomes = {
        dict(labels)["outcome"]
        for (name, labels), _ in last.items()
        if name == "kingdom_worker_messages_total"
    }
    assert worker_outcomes <= {"processed", "failed", "redelivered"}


def test_metrics_can_be_turned_off_or_kept_from_this_host(tmp_path: Path) -> None:
    with run_server(tmp_path / "off", {"KINGDOM_METRICS_ALLOW": "off"}) as server:
        off = httpx.get(f"{server.base_url}/metrics")
    with run_server(tmp_path / "elsewhere", {"KINGDOM_METRICS_ALLOW": "192.0.2.0/24"}) as server:
        # A forwarded-for header is not the peer: the test's 127.0.0.1 is.
        refused = httpx.get(f"{server.base_url}/metrics", headers={"X-Forwarded-For": "192.0.2.7"})

    assert off.status_code == 404
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
