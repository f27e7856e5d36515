"""Spans leave a real server over OTLP/HTTP: one tree from the client's request to the worker.

A tiny OTLP/HTTP collector runs in this test's process (a
``ThreadingHTTPServer`` on 127.0.0.1): it takes ``POST /v1/traces`` with a
protobuf ``ExportTraceServiceRequest`` (plain or gzip), keeps the spans and
answers an empty ``ExportTraceServiceResponse``. The real server (embedded
workers, in-process transport) exports to it when an endpoint is configured;
one registration sent with the client's ``traceparent`` must then arrive as
one tree under the client's span: ``POST /graphql`` → ``command RegisterUser``
→ ``publish identity.UserRegistered`` → ``consume UserRegistered``, all in the
client's trace and exported while the server runs. OpenTelemetry's own
variables (with gzip and ``OTEL_SERVICE_NAME``) work the same. Without an
endpoint nothing reaches a collector at all, not even one on the exporter's
default port (when that port is free). On SQLite and PostgreSQL.

Waits are bounded by a number of polls, never asserted against a clock.
"""

from __future__ import annotations

import gzip
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from e2e.client import register_traced
from e2e.server import RunningServer, run_server
from e2e.test_event_path import COUNT_UNPUBLISHED, scalar, wait_for

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"
OFFERED = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"
"""The client's span (sampled): the server's request span is its child."""

AUDITED = (
    "SELECT count(*) FROM audit_entries WHERE event_type = 'identity.UserRegistered'"
    " AND summary LIKE '%<{email}>%'"
)
REQUEST = "POST /graphql"
COMMAND = "command RegisterUser"
PUBLISH = "publish identity.UserRegistered"
CONSUME = "consume UserRegistered"
SPAN_POLLS = 300
"""Polls (0.1 s apart) for the spans to arrive; the batch processor exports every 50 ms."""
EXPORTS_PROMPTLY = {"OTEL_BSP_SCHEDULE_DELAY": "50"}
DEFAULT_OTLP_PORT = 4318
"""Where OpenTelemetry's exporter sends when no endpoint is given (``localhost:4318``)."""


@dataclass(frozen=True)
class Received:
    """One span as the collector decoded it (ids in lowercase hex, ``""`` for no parent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    status: int
    attributes: Mapping[str, object]
    resource: Mapping[str, object]


@dataclass(frozen=True)
class Export:
    """One HTTP request the collector got, and whether it took it."""

    method: str
    path: str
    content_type: str | None
    content_encoding: str | None
    accepted: bool


@dataclass
class Collector:
    """What an OTLP/HTTP collector received; read it from the test thread."""

    url: str = ""
    _exports: list[Export] = field(default_factory=list)
    _spans: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def exports(self) -> list[Export]:
        with self._lock:
            return list(self._exports)

    @property
    def spans(self) -> list[Received]:
        with self._lock:
            return list(self._spans)

    def of_trace(self, trace_id: str) -> list[Received]:
        return [span for span in self.spans if span.trace_id == trace_id]

    def record(self, export: Export, spans: list[Received]) -> None:
        with self._lock:
            self._exports.append(export)
            self._spans.extend(spans)


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def decode(body: bytes) -> list[Received]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    received = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.append(
                    Received(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=span.kind,
                        status=span.status.code,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        resource=resource,
                    )
                )
    return received


class _CollectorServer(ThreadingHTTPServer):
    daemon_threads = True
    collector: Collector


class _Handler(BaseHTTPRequestHandler):
    server: _CollectorServer

    def do_POST(self) -> None:
        content_type = self.headers.get("Content-Type")
        encoding = self.headers.get("Content-Encoding")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        accepted = (
            self.path == "/v1/traces"
            and content_type == "application/x-protobuf"
            and encoding in (None, "identity", "gzip", "deflate")
        )
        spans = decode(body) if accepted else []
        self.server.collector.record(
            Export("POST", self.path, content_type, encoding, accepted), spans
        )
        if not accepted:
            self.send_error(415 if self.path == "/v1/traces" else 404)
            return
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        # Anything else the server might try is recorded too (and refused).
        self.server.collector.record(Export("GET", self.path, None, None, False), [])
        self.send_error(405)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test reads the collector, not its log


@contextmanager
def running_collector(port: int = 0) -> Iterator[Collector]:
    """A collector listening on 127.0.0.1 (``port`` 0: any free port)."""
    server = _CollectorServer(("127.0.0.1", port), _Handler)
    server.collector = Collector(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture()
def collector() -> Iterator[Collector]:
    with running_collector() as running:
        yield running


@pytest.fixture()
def default_collector(record_property: Callable[[str, object], None]) -> Iterator[Collector]:
    """A collector where an exporter sends by default (``localhost:4318``) if that port is
    free, else on any port (then only "nothing names it" is shown)."""
    with ExitStack() as stack:
        try:
            running = stack.enter_context(running_collector(DEFAULT_OTLP_PORT))
        except OSError:
            record_property(
                "measured otlp default port",
                f"port {DEFAULT_OTLP_PORT} is taken: the no-endpoint test's collector listens"
                " elsewhere, so it cannot see an export to the default endpoint",
            )
            running = stack.enter_context(running_collector())
        yield running


def without_inherited_otel(**settings: str) -> dict[str, str]:
    """``settings`` for the child, any ``OTEL_*`` of this environment blanked (read as unset)."""
    blanked = {
        name: ""
        for name in os.environ
        if name.startswith("OTEL_") or name == "KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT"
    }
    return {**blanked, **settings}


def register(server: RunningServer, email: str) -> str:
    """Register ``email`` under the client's trace; the response's ``traceparent``."""
    answered: str = register_traced(server.base_url, email, OFFERED).headers["traceparent"]
    return answered


def poll_until(done: Callable[[], bool], polls: int = SPAN_POLLS) -> None:
    """Return once ``done()`` holds, or after ``polls`` tries (the caller then asserts)."""
    for _ in range(polls):
        if done():
            return
        time.sleep(0.1)


def names(spans: list[Received]) -> set[str]:
    return {span.name for span in spans}


def ancestry(span: Received, by_id: Mapping[str, Received]) -> list[str]:
    """The names from ``span`` up to its top (a span whose parent was not received)."""
    chain = [span.name]
    while span.parent_span_id in by_id and len(chain) <= len(by_id):
        span = by_id[span.parent_span_id]
        chain.append(span.name)
    return chain


def assert_one_tree(spans: list[Received], answered: str) -> dict[str, Received]:
    """The request's spans form one tree under the client's span; the spans by name."""
    assert {span.trace_id for span in spans} == {TRACE_ID}
    by_id = {span.span_id: span for span in spans}
    assert len(by_id) == len(spans), "a span id repeats (or a span was exported twice)"
    # Every span hangs under the client's span or under another span of the trace.
    orphans = [s.name for s in spans if s.parent_span_id not in {CLIENT_SPAN_ID, *by_id}]
    assert orphans == [], f"spans whose parent was never received: {orphans}"
    [root] = [span for span in spans if span.parent_span_id == CLIENT_SPAN_ID]
    assert root.name == REQUEST
    assert root.span_id == answered[36:52], "the response's traceparent names the request span"
    for span in spans:  # no cycle: each chain ends at the request span
        assert ancestry(span, by_id)[-1] == REQUEST, ancestry(span, by_id)

    by_name = {span.name: span for span in spans}
    assert len(by_name) == len(spans), sorted(s.name for s in spans)
    # The event path, each span the child of the step before it.
    assert ancestry(by_name[CONSUME], by_id) == [CONSUME, PUBLISH, COMMAND, REQUEST]
    kinds = {name: by_name[name].kind for name in (REQUEST, COMMAND, PUBLISH, CONSUME)}
    assert kinds == {
        REQUEST: Span.SPAN_KIND_SERVER,
        COMMAND: Span.SPAN_KIND_INTERNAL,
        PUBLISH: Span.SPAN_KIND_PRODUCER,
        CONSUME: Span.SPAN_KIND_CONSUMER,
    }
    request = by_name[REQUEST].attributes
    assert (request["http.request.method"], request["url.path"]) == ("POST", "/graphql")
    assert request.get("http.response.status_code") == 200
    message_id = by_name[PUBLISH].attributes["messaging.message.id"]
    assert message_id
    assert by_name[CONSUME].attributes["messaging.message.id"] == message_id
    assert [s.name for s in spans if s.status == Status.STATUS_CODE_ERROR] == []
    return by_name


def test_the_request_reaches_the_collector_as_one_tree(
    tmp_path: Path, backend: dict[str, str], collector: Collector
) -> None:
    email = f"otlp-{tmp_path.name}@example.org"  # the Postgres database is shared by the module
    environ = {
        **backend,
        **without_inherited_otel(
            KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, **EXPORTS_PROMPTLY
        ),
    }
    with run_server(tmp_path, environ) as server:
        answered = register(server, email)
        poll_until(
            lambda: {REQUEST, COMMAND, PUBLISH, CONSUME} <= names(collector.of_trace(TRACE_ID))
        )
        arrived_while_running = names(collector.of_trace(TRACE_ID))
        output = server.stop()  # flushes whatever the batch processor still held

    # Exported while the server ran (in batches), not only by the flush at its exit.
    assert {REQUEST, COMMAND, PUBLISH, CONSUME} <= arrived_while_running
    assert answered[3:35] == TRACE_ID
    by_name = assert_one_tree(collector.of_trace(TRACE_ID), answered)
    # None of the request's work went to another trace. (The others are the liveness
    # probes and the start-up's own commands: the administrator it creates.)
    others = [span for span in collector.spans if span.trace_id != TRACE_ID]
    assert REQUEST not in names(others)
    message_id = by_name[CONSUME].attributes["messaging.message.id"]
    assert message_id not in {span.attributes.get("messaging.message.id") for span in others}
    exports = collector.exports
    assert exports
    assert all(e.accepted for e in exports), exports
    assert {(e.path, e.content_type) for e in exports} == {("/v1/traces", "application/x-protobuf")}
    # One process, one resource: the embedded workers' spans are the server's.
    resources = {tuple(sorted(span.resource.items())) for span in collector.spans}
    assert len(resources) == 1, resources
    assert collector.spans[0].resource["service.name"] == "kingdom-server"
    assert "Traceback" not in output


def test_the_standard_variables_and_gzip_work_too(tmp_path: Path, collector: Collector) -> None:
    """OpenTelemetry's own ``OTEL_EXPORTER_OTLP_*`` (a base URL), gzip, and a service name."""
    environ = without_inherited_otel(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
        OTEL_SERVICE_NAME="kingdom-under-test",
        **EXPORTS_PROMPTLY,
    )
    with run_server(tmp_path, environ) as server:
        answered = register(server, "otlp-standard@example.org")
        poll_until(lambda: CONSUME in names(collector.of_trace(TRACE_ID)))
        output = server.stop()

    assert_one_tree(collector.of_trace(TRACE_ID), answered)
    exports = collector.exports
    assert exports
    assert {(e.path, e.content_encoding, e.accepted) for e in exports} == {
        ("/v1/traces", "gzip", True)
    }
    assert {span.resource["service.name"] for span in collector.spans} == {"kingdom-under-test"}
    assert "Traceback" not in output


def test_without_an_endpoint_nothing_is_sent(
    tmp_path: Path, backend: dict[str, str], default_collector: Collector
) -> None:
    collector = default_collector
    email = f"untraced-{tmp_path.name}@example.org"
    # The collector listens (where OpenTelemetry's default endpoint points, when that port
    # is free), but nothing names it; the batch delay would be short if one were used.
    environ = {**backend, **without_inherited_otel(**EXPORTS_PROMPTLY)}
    with run_server(tmp_path, environ) as server:
        answered = register(server, email)
        # The event went all the way: the worker audited it and the relay marked it sent.
        audited = AUDITED.format(email=email)
        wait_for("audit entries of the registration", lambda: scalar(backend, tmp_path, audited), 1)
        wait_for("unpublished outbox rows", lambda: scalar(backend, tmp_path, COUNT_UNPUBLISHED), 0)
        output = server.stop()  # a configured exporter would flush here

    # The trace is still carried (the response header) without any span exported.
    assert answered[3:35] == TRACE_ID
    assert collector.exports == []
    assert collector.spans == []
    assert "Traceback" not in output
