"""One trace along the whole event path: request → outbox → relay → SQS → Lambda handler → audit.

Two views, each on SQLite and PostgreSQL:

- without spans (the default): the trace id the client sent is in the outbox
  row, the SQS message attribute, the audit entry and the worker's log lines
  (and its request id in the row, the attribute and the entry);
- with spans (OpenTelemetry into an in-memory exporter, wired through the
  real composition roots of the server and the workers): the request, its
  command, the relay's send and the worker's consumption are one tree of one
  trace, with in-process workers and with SQS in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select
from starlette.types import ASGIApp, Receive, Scope, Send

from integration.entrypoints.support import running_api
from integration.workers.sqs import Queues, aws_environment, make_queues
from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.messaging.sqs_client import sqs_client
from kingdom.adapters.messaging.sqs_queue import lambda_record
from kingdom.adapters.migrations import runner
from kingdom.adapters.sql.audit import audit_entries
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.adapters.telemetry import Tracing, tracing_to
from kingdom.adapters.trace_logging import add_trace_ids
from kingdom.domain.shared import Event
from kingdom.entrypoints import composition as server_composition
from kingdom.entrypoints.settings import Settings
from kingdom.services.consumers import WORKER_HANDLERS, build_consumer
from kingdom.services.fakes import RecordingMailer
from kingdom.services.ports import UnitOfWork
from kingdom.services.relay import OutboxRelay
from kingdom.workers import composition as worker_composition
from kingdom.workers.lambda_handler import handle_batch
from kingdom.workers.settings import WorkerSettings
from unit.entrypoints.lifespan import running_lifespan

OFFERED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_ID = "req-trace-1"
REGISTER = """mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }"""
SECRET = "trace-test-signing-key-0123456789abcdefghijklmnopq"
REGION = "us-east-1"


def registration(email: str) -> dict[str, Any]:
    return {
        "query": REGISTER,
        "variables": {
            "input": {"email": email, "displayName": "Tracy", "password": "a long passphrase"}
        },
    }


async def rows(database: Database, query: Any) -> list[Any]:
    async with database.engine.connect() as connection:
        return list((await connection.execute(query)).mappings())


def lambda_event(queues: Queues) -> dict[str, Any]:
    """Everything on the queue, as Lambda would hand it to the function."""
    arn = queues.client.get_queue_attributes(QueueUrl=queues.url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return {"Records": [lambda_record(m, arn, REGION) for m in queues.receive_all()]}


# --- without spans ---------------------------------------------------------------------


async def refuse(event: Event, uow: UnitOfWork) -> None:
    """A worker handler that always fails: the failure is logged, under the trace."""
    raise RuntimeError("refused")


async def test_the_clients_trace_id_reaches_the_audit_entry_and_the_workers_logs(
    database_url: str,
    sqs_endpoint: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queues = make_queues(sqs_endpoint)
    async with running_api(database_url) as api:
        response = await api.client.post(
            "/graphql",
            json=registration("tracy@example.org"),
            headers={"traceparent": OFFERED, "X-Request-ID": REQUEST_ID},
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        answered = response.headers["traceparent"]

        # The commit wrote the request's trace and id on its outbox rows.
        stored = await rows(
            api.database, select(outbox.c.event_type, outbox.c.trace_parent, outbox.c.request_id)
        )
        assert stored
        assert {(row["trace_parent"], row["request_id"]) for row in stored} == {
            (answered, REQUEST_ID)
        }
        assert answered[3:35] == TRACE_ID

        transport = SqsTransport(sqs_client(sqs_endpoint), queues.url, fifo=False)
        relay = OutboxRelay(SqlOutboxFeed(api.database, api.clock), transport, api.clock)
        assert await relay.relay_once() == len(stored)
        clock = api.clock  # the worker's too: the welcome mail must not look long expired

    event = await asyncio.to_thread(lambda_event, queues)
    attributes = [
        (
            r["messageAttributes"]["traceparent"]["stringValue"],
            r["messageAttributes"]["request_id"]["stringValue"],
        )
        for r in event["Records"]
    ]
    assert attributes == [(answered, REQUEST_ID)] * len(stored)

    # The Lambda handler on a worker of its own (its loop, its connections).
    worker = await asyncio.to_thread(
        worker_composition.build_worker,
        WorkerSettings(data_dir=tmp_path, database_url=database_url),
    )
    handlers = {**WORKER_HANDLERS, Event: (*WORKER_HANDLERS.get(Event, ()), refuse)}
    consumer = build_consumer(
        uow_factory=lambda: SqlUnitOfWork(worker.database),
        dependencies={"clock": clock, "mailer": RecordingMailer()},
        handlers=handlers,
    )
    add_trace_ids([caplog.handler])  # what the workers' log setup does to its handlers
    try:
        with caplog.at_level(logging.INFO, logger="kingdom"):
            answer = await asyncio.to_thread(handle_batch, event, consumer, worker.loop)
        audited = await asyncio.to_thread(
            worker.loop.run_until_complete,
            rows(worker.database, select(audit_entries.c.trace_parent, audit_entries.c.request_id)),
        )
    finally:
        await asyncio.to_thread(worker.close)

    # Every record failed (the refusing handler), yet the audit handler ran on each.
    assert len(answer["batchItemFailures"]) == len(stored)
    assert [(row["trace_parent"], row["request_id"]) for row in audited] == [
        (answered, REQUEST_ID)
    ] * len(stored)
    failures = [
        r for r in caplog.records if r.name.startswith("kingdom.") and r.levelno >= logging.WARNING
    ]
    assert {r.name for r in failures} == {
        "kingdom.services.consumers",  # the handler's failure, while consuming
        "kingdom.workers.lambda_handler",  # the record's failure, after the batch
    }
    assert {getattr(r, "trace_id", None) for r in failures} == {TRACE_ID}


# --- with spans ------------------------------------------------------------------------


@pytest.fixture()
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Both composition roots export their spans here instead of to a collector."""
    exporter = InMemorySpanExporter()
    made: list[Tracing] = []

    def in_memory(endpoint: str | None, service_name: str) -> Tracing | None:
        assert endpoint == "http://collector.invalid:4318/v1/traces"
        made.append(tracing_to(Shared(exporter), service_name, batch=False))
        return made[-1]

    monkeypatch.setattr(server_composition, "configure_tracing", in_memory)
    monkeypatch.setattr(worker_composition, "configure_tracing", in_memory)
    yield exporter
    for tracing in made:
        tracing.shutdown()


class Shared(SpanExporter):
    """One exporter for several providers: the server's shutdown must not stop the worker's."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export(spans)

    def shutdown(self) -> None:
        pass


def settings(database_url: str, data_dir: Path, **extra: str) -> Settings:
    return Settings.from_environ(
        {
            "KINGDOM_DATABASE_URL": database_url,
            "KINGDOM_DATA_DIR": str(data_dir),
            "KINGDOM_TOKEN_SIGNING_KEY": SECRET,
            "KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.invalid:4318",
            **extra,
        }
    )


@contextlib.asynccontextmanager
async def serving(kingdom: server_composition.Kingdom) -> AsyncIterator[httpx.AsyncClient]:
    """The server's app with its lifespan running (the relay too), as uvicorn runs it."""
    app = server_composition.asgi_app(kingdom)
    state: dict[str, Any] = {}
    async with running_lifespan(app, state):
        transport = httpx.ASGITransport(app=with_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://kingdom.test") as http:
            yield http


def with_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """uvicorn's part: a copy of the lifespan state in every request's scope."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return asgi


async def eventually(what: str, found: Callable[[], bool], polls: int = 2400) -> None:
    """Poll until ``found()``; the bound is a count of polls, generous for a loaded machine."""
    for _ in range(polls):
        if found():
            return
        await asyncio.sleep(0.05)
    assert found(), f"no {what}"


def named(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def assert_one_tree(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    """request → command → a publish per event → its consumption; the consume spans."""
    (request,) = named(spans, "POST /graphql")
    (command,) = named(spans, "command RegisterUser")
    publishes, consumes = named(spans, "publish "), named(spans, "consume ")
    assert publishes
    assert len(consumes) == len(publishes)
    assert {s.context.trace_id for s in (request, command, *publishes, *consumes)} == {
        int(TRACE_ID, 16)
    }

    def parent_id(span: ReadableSpan) -> int:
        assert span.parent is not None, span.name
        return span.parent.span_id

    assert parent_id(request) == int(OFFERED[36:52], 16)  # the client's span
    assert parent_id(command) == request.context.span_id
    assert {parent_id(s) for s in publishes} == {command.context.span_id}
    assert sorted(parent_id(s) for s in consumes) == sorted(s.context.span_id for s in publishes)
    return consumes


async def test_with_in_process_workers_the_spans_form_one_tree(
    database_url: str, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    await runner.upgrade(database_url)
    kingdom = server_composition.build(settings(database_url, tmp_path))
    async with serving(kingdom) as http:
        response = await http.post(
            "/graphql", json=registration("spans@example.org"), headers={"traceparent": OFFERED}
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        await eventually(
            "consumption span",
            lambda: bool(named(exporter.get_finished_spans(), "consume UserRegistered")),
        )
        audited = await rows(kingdom.database, select(audit_entries.c.trace_parent))

    spans = exporter.get_finished_spans()
    consumes = assert_one_tree(spans)
    (request,) = named(spans, "POST /graphql")
    assert response.headers["traceparent"][36:52] == f"{request.context.span_id:016x}"
    assert {s.resource.attributes["service.name"] for s in spans} == {"kingdom-server"}
    assert all(s.kind.name == "CONSUMER" for s in consumes)
    # The audit entries name the send's span: same trace as the request.
    assert {row["trace_parent"][3:35] for row in audited} == {TRACE_ID}


async def test_across_sqs_the_workers_consumption_continues_the_servers_trace(
    database_url: str, tmp_path: Path, sqs_endpoint: str, exporter: InMemorySpanExporter
) -> None:
    await runner.upgrade(database_url)
    queues = make_queues(sqs_endpoint)
    server = settings(
        database_url,
        tmp_path,
        KINGDOM_SQS_QUEUE_URL=queues.url,
        **aws_environment(sqs_endpoint),
    )
    kingdom = server_composition.build(server)
    async with serving(kingdom) as http:
        response = await http.post(
            "/graphql", json=registration("queued@example.org"), headers={"traceparent": OFFERED}
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        published = len(await rows(kingdom.database, select(outbox.c.position)))
        await eventually(
            "publish spans",
            lambda: len(named(exporter.get_finished_spans(), "publish ")) == published,
        )

    event = await asyncio.to_thread(lambda_event, queues)
    assert len(event["Records"]) == published
    worker = await asyncio.to_thread(worker_composition.build_worker, server.events)
    try:
        answer = await asyncio.to_thread(handle_batch, event, worker.consumer, worker.loop)
    finally:
        await asyncio.to_thread(worker.close)

    assert answer == {"batchItemFailures": []}
    spans = exporter.get_finished_spans()
    consumes = assert_one_tree(spans)
    assert {s.resource.attributes["service.name"] for s in consumes} == {"kingdom-worker"}
    assert {s.resource.attributes["service.name"] for s in named(spans, "publish ")} == {
        "kingdom-server"
    }
