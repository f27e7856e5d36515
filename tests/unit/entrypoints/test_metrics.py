"""``GET /metrics``: what a scrape shows after known requests, and who may scrape it.

The app is the real HTTP app and GraphQL handler on fakes (the service layer
of :class:`FakeApp`; no query port is touched by these operations), driven
in process over httpx.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.parser import text_string_to_metric_families

from kingdom.adapters.metrics import WorkerMetrics
from kingdom.domain.access import Actor
from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.graphql import GraphQLServices, create_graphql_app
from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.http.metrics import (
    MetricsEndpoint,
    PeerAllowList,
    RequestMetrics,
    multiprocess_directory,
    prepare_multiprocess,
)
from kingdom.entrypoints.http.metrics.requests import DURATION_BUCKETS
from kingdom.entrypoints.settings import Settings, SettingsError
from kingdom.services.fakes import FakeApp
from kingdom.services.ports.outbox import Backlog

LOCAL = ("127.0.0.1", 40000)
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class NoQueries:
    """Stands in for the read ports: the operations here read nothing."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected read: {name}")


async def refuse_every_token(token: str) -> Actor:
    raise Unauthenticated("invalid or expired token")


def graphql_app() -> Any:
    fakes = FakeApp()
    unused = cast(Any, NoQueries())
    services = GraphQLServices(
        bus=fakes.bus,
        users=unused,
        roles=unused,
        accounts=unused,
        transfers=unused,
        clock=fakes.clock,
        ids=fakes.ids,
        authenticate=refuse_every_token,
    )
    return create_graphql_app(services)


@asynccontextmanager
async def client(
    endpoint: MetricsEndpoint | None, peer: tuple[str, int] = LOCAL
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(graphql_app(), metrics=endpoint)
    transport = httpx.ASGITransport(app=app, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://kingdom.test") as http:
        yield http


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(samples: Samples) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["operation"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "kingdom_http_requests_total"
    }


def durations_counted(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["operation_type"]: value
        for (name, labels), value in samples.items()
        if name == "kingdom_http_request_duration_seconds_count"
    }


async def post(http: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": query}, headers=headers)


async def test_a_scrape_counts_each_request_by_operation_and_outcome() -> None:
    endpoint = MetricsEndpoint(CollectorRegistry(), allow=["127.0.0.1"])
    async with client(endpoint) as http:
        answers = [
            await post(http, "query Ping { __typename }"),
            await post(http, "query Ping { __typename }"),
            await post(http, "{ __typename }"),
            await post(
                http,
                'mutation Join { registerUser(input: {email: "not an address",'
                ' displayName: "X", password: "correct horse battery"}) { userId } }',
            ),
            await post(http, "query Ping { __typename }", authorization="Bearer forged"),
            await http.post("/graphql", content=b"{", headers={"content-type": "application/json"}),
            await http.get("/health/live"),
            await http.get("/no/such/path"),
        ]
        scrape = await http.get("/metrics")

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 401, 400, 200, 404]
    assert answers[3].json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert scrape.status_code == 200
    assert scrape.headers["content-type"] == CONTENT_TYPE_LATEST
    samples = parse(scrape.text)
    # The scrape itself is counted once its answer is sent: not in its own text.
    assert requests_counted(samples) == {
        ("Ping", "ok"): 2,
        ("anonymous", "ok"): 1,
        ("Join", "BAD_USER_INPUT"): 1,
        ("Ping", "UNAUTHENTICATED"): 1,
        ("anonymous", "BAD_REQUEST"): 1,
        ("/health/live", "ok"): 1,
        ("other", "NOT_FOUND"): 1,
    }
    # The operation type is known before the token is checked; a body that is
    # no JSON has none.
    assert durations_counted(samples) == {"query": 4, "mutation": 1, "other": 3}

    async with client(endpoint) as http:
        again = parse((await http.get("/metrics?format=anything")).text)
    assert requests_counted(again)[("/metrics", "ok")] == 1


def test_a_thousand_operation_names_make_at_most_two_hundred_series() -> None:
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry)
    for number in range(1000):
        state = {"access_operation": f"Op{number}", "access_operation_type": "query"}
        metrics.observe("POST", "/graphql", 200, state, 0.001)
    metrics.observe("POST", "/graphql", 200, {"access_operation": "Op7"}, 0.001)

    counted = requests_counted(parse(generate_latest(registry).decode()))

    assert len(counted) == 201
    assert counted[("other", "ok")] == 800
    assert counted[("Op0", "ok")] == 1
    assert counted[("Op7", "ok")] == 2  # admitted names keep their series
    assert ("Op200", "ok") not in counted


def test_outcomes_without_a_code_come_from_the_status() -> None:
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry)
    metrics.observe("GET", "/health/ready", 503, {}, 0.01)
    metrics.observe("GET", "/graphql", 405, {}, 0.01)
    metrics.observe("POST", "/graphql", None, {}, 0.01)
    metrics.observe("GET", "/x", 299, {}, 0.01)

    assert requests_counted(parse(generate_latest(registry).decode())) == {
        ("/health/ready", "SERVICE_UNAVAILABLE"): 1,
        ("other", "METHOD_NOT_ALLOWED"): 1,
        ("anonymous", "NO_RESPONSE"): 1,
        ("other", "ok"): 1,
    }


def test_tallied_durations_make_the_histogram_observe_would() -> None:
    """The flush writes prometheus_client's histogram values directly: held to ``observe``."""
    durations = [0.0, 0.0004, 0.001, 0.0010001, 0.003, 0.3, 1.0, 9.99, 10.0, 10.5, 60.0]
    registry, reference = CollectorRegistry(), CollectorRegistry()
    metrics = RequestMetrics(registry, flush_seconds=3600)
    observed = Histogram(
        "kingdom_http_request_duration_seconds",
        "reference",
        ["operation_type"],
        registry=reference,
        buckets=DURATION_BUCKETS,
    ).labels("mutation")
    for seconds in durations:
        metrics.observe("POST", "/graphql", 200, {"access_operation_type": "mutation"}, seconds)
        observed.observe(seconds)
    metrics.flush()
    metrics.flush()  # nothing new: adds nothing

    def histogram(samples: Samples) -> Samples:
        return {
            (name, labels): value
            for (name, labels), value in samples.items()
            if name.startswith("kingdom_http_request_duration_seconds")
            and ("operation_type", "mutation") in labels
            and not name.endswith("_created")
        }

    flushed = histogram(parse(generate_latest(registry).decode()))
    assert flushed == histogram(parse(generate_latest(reference).decode()))
    assert (
        flushed[
            (
                "kingdom_http_request_duration_seconds_count",
                frozenset({("operation_type", "mutation")}),
            )
        ]
        == 11
    )


async def test_requests_reach_the_metrics_a_moment_later_without_a_scrape() -> None:
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry, flush_seconds=0.01)
    labels = {"operation": "/health/live", "outcome": "ok"}

    metrics.observe("GET", "/health/live", 200, {}, 0.001)
    metrics.observe("GET", "/health/live", 200, {}, 0.001)

    assert registry.get_sample_value("kingdom_http_requests_total", labels) is None  # tallied
    await asyncio.sleep(0.1)  # the flush timer (0.01 s) comes first on the loop
    assert registry.get_sample_value("kingdom_http_requests_total", labels) == 2


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),
        ("::1", True),
        ("10.2.0.1", False),
        ("203.0.113.9", False),
        ("testclient", False),
    ],
)
async def test_only_allowed_peers_may_scrape(peer: str, allowed: bool) -> None:
    endpoint = MetricsEndpoint(CollectorRegistry(), allow=["127.0.0.1", "10.1.0.0/16", "::1"])
    async with client(endpoint, peer=(peer, 5000)) as http:
        # What a client says about itself changes nothing.
        response = await http.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})

    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "kingdom_http" not in response.text


def test_a_peer_the_server_cannot_name_is_refused() -> None:
    assert not PeerAllowList(["0.0.0.0/0"]).allows(None)
    assert PeerAllowList(["0.0.0.0/0"]).allows("192.0.2.1")


async def test_other_methods_and_paths_below_metrics_are_refused() -> None:
    async with client(MetricsEndpoint(CollectorRegistry(), allow=["127.0.0.1"])) as http:
        post_ = await http.post("/metrics")
        below = await http.get("/metrics/x")
        head = await http.head("/metrics")

    assert (post_.status_code, below.status_code, head.status_code) == (405, 404, 200)


async def test_without_an_endpoint_metrics_is_not_found() -> None:
    async with client(None) as http:
        response = await http.get("/metrics")

    assert response.status_code == 404
    with pytest.raises(ValueError, match="metrics=None"):
        MetricsEndpoint(CollectorRegistry(), allow=())


def test_the_allow_list_setting() -> None:
    assert Settings.from_environ({}).metrics_allow == ("127.0.0.1", "::1")
    assert Settings.from_environ(
        {"KINGDOM_ENV": "production", "KINGDOM_TOKEN_SIGNING_KEY": "k" * 32}
    ).metrics_allow == ("127.0.0.1", "::1")
    for off in ("", "off", " OFF "):
        assert Settings.from_environ({"KINGDOM_METRICS_ALLOW": off}).metrics_allow == ()
    chosen = Settings.from_environ({"KINGDOM_METRICS_ALLOW": "10.0.0.0/8, fd00::/8"})
    assert chosen.metrics_allow == ("10.0.0.0/8", "fd00::/8")
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"KINGDOM_METRICS_ALLOW": "127.0.0.1,*"})
    assert raised.value.name == "KINGDOM_METRICS_ALLOW"


class FakeBacklog:
    def __init__(self, backlog: Backlog | Exception) -> None:
        self.backlog = backlog

    async def __call__(self) -> Backlog:
        if isinstance(self.backlog, Exception):
            raise self.backlog
        return self.backlog


async def test_pool_and_outbox_gauges_are_read_at_scrape_time() -> None:
    pool = {"in_use": 3.0, "idle": 7.0, "overflow": 0.0}
    backlog = FakeBacklog(Backlog(unpublished=4, oldest=NOW - timedelta(seconds=90)))
    endpoint = MetricsEndpoint(
        CollectorRegistry(),
        allow=["127.0.0.1"],
        pool_stats=lambda: pool,
        backlog=backlog,
        now=lambda: NOW,
    )
    async with client(endpoint) as http:
        first = parse((await http.get("/metrics")).text)
        pool["in_use"] = 5.0
        backlog.backlog = Backlog(unpublished=0, oldest=None)
        second = parse((await http.get("/metrics")).text)

    def gauges(samples: Samples) -> dict[str, float]:
        return {
            name + "".join(f"{{{v}}}" for _, v in sorted(labels)): value
            for (name, labels), value in samples.items()
            if name.startswith(("kingdom_db_", "kingdom_outbox_"))
        }

    assert gauges(first) == {
        "kingdom_db_pool_connections{in_use}": 3,
        "kingdom_db_pool_connections{idle}": 7,
        "kingdom_db_pool_connections{overflow}": 0,
        "kingdom_outbox_unpublished": 4,
        "kingdom_outbox_oldest_age_seconds": 90,
    }
    assert gauges(second)["kingdom_db_pool_connections{in_use}"] == 5
    assert gauges(second)["kingdom_outbox_unpublished"] == 0
    assert gauges(second)["kingdom_outbox_oldest_age_seconds"] == 0


async def test_an_unreadable_backlog_leaves_its_gauges_out_not_the_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = MetricsEndpoint(
        CollectorRegistry(), allow=["127.0.0.1"], backlog=FakeBacklog(OSError("db down"))
    )
    async with client(endpoint) as http:
        response = await http.get("/metrics")

    assert response.status_code == 200
    assert "kingdom_outbox" not in response.text
    assert "kingdom_http_requests_total" in response.text
    assert "could not read the outbox backlog" in caplog.text


async def test_worker_counters_in_the_same_registry_are_served() -> None:
    registry = CollectorRegistry()
    endpoint = MetricsEndpoint(registry, allow=["127.0.0.1"])
    WorkerMetrics(registry).failed()
    async with client(endpoint) as http:
        samples = parse((await http.get("/metrics")).text)

    key = ("kingdom_worker_messages_total", frozenset({("outcome", "failed")}))
    assert samples[key] == 1


@pytest.fixture()
def multiprocess_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """prometheus_client in multiprocess mode, as in a worker the server spawned."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    yield tmp_path
    values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]


async def test_with_several_workers_their_counts_add_up(
    multiprocess_values: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers (two pids' value files) record; either one's scrape shows both."""
    endpoints = []
    for pid in (101, 102):
        worker_values = values.MultiProcessValue(lambda pid=pid: pid)  # type: ignore[no-untyped-call]
        monkeypatch.setattr(values, "ValueClass", worker_values)
        assert multiprocess_directory() == multiprocess_values
        endpoint = MetricsEndpoint(CollectorRegistry(), allow=["127.0.0.1"])
        endpoint.requests.observe("GET", "/health/live", 200, {}, 0.002)
        endpoint.requests.flush()  # what its timer does within a second
        endpoints.append(endpoint)

    async with client(endpoints[0]) as http:
        samples = parse((await http.get("/metrics")).text)

    assert sorted(p.name for p in multiprocess_values.glob("*.db")) == [
        "counter_101.db",
        "counter_102.db",
        "histogram_101.db",
        "histogram_102.db",
    ]
    assert requests_counted(samples) == {("/health/live", "ok"): 2}
    assert durations_counted(samples) == {"query": 0, "mutation": 0, "other": 2}


def test_a_flush_that_cannot_write_is_logged_and_dropped(
    multiprocess_values: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    worker_values = values.MultiProcessValue(lambda: 103)  # type: ignore[no-untyped-call]
    monkeypatch.setattr(values, "ValueClass", worker_values)
    metrics = RequestMetrics(CollectorRegistry(), flush_seconds=3600)
    shutil.rmtree(multiprocess_values)  # say, a cleaner emptied /tmp under the server

    metrics.observe("GET", "/health/live", 200, {}, 0.001)  # flushes at once: no loop here
    multiprocess_values.mkdir()
    metrics.flush()  # nothing left to write twice

    assert "could not record the latest requests" in caplog.text
    assert list(multiprocess_values.iterdir()) == []


def test_prepare_multiprocess_empties_the_directory_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_4242.db").write_bytes(b"stale")
    (directory / "README").write_text("not ours")

    prepare_multiprocess(directory)

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory.resolve())
    assert [p.name for p in directory.iterdir()] == ["README"]
    prepare_multiprocess(tmp_path / "new" / "dir")
    assert (tmp_path / "new" / "dir").is_dir()


def test_a_process_that_imported_prometheus_client_first_keeps_values_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This test process imported prometheus_client without the variable.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert multiprocess_directory() is None
