"""OpenTelemetry behind the tracer port, where spans go, and trace ids on log lines."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kingdom.adapters.telemetry import Tracing, configure_tracing, traces_endpoint, tracing_to
from kingdom.adapters.trace_logging import TraceIdFilter, add_trace_ids
from kingdom.entrypoints.log_format import JsonFormatter, logging_config
from kingdom.services.tracing import current_trace_parent, in_trace, parse_traceparent
from kingdom.workers.settings import SettingsError, WorkerSettings

OFFERED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736


@pytest.fixture()
def exported() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracing = tracing_to(exporter, "kingdom-test", batch=False)
    yield tracing, exporter
    tracing.shutdown()


def test_spans_hang_under_the_named_parent_and_are_current_while_open(
    exported: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = exported
    tracer = tracing.tracer

    with tracer.span(
        "POST /graphql", OFFERED, kind="server", attributes={"url.path": "/g"}
    ) as request:
        assert current_trace_parent() == request.trace_parent
        with tracer.span("command Ping", current_trace_parent()) as command:
            command.set_attribute("k", 1)
    assert current_trace_parent() is None

    command_span, request_span = exporter.get_finished_spans()
    assert request_span.parent is not None
    assert command_span.parent is not None
    assert request_span.context.trace_id == command_span.context.trace_id == TRACE_ID
    assert request_span.parent.span_id == 0x00F067AA0BA902B7
    assert request_span.parent.is_remote
    assert command_span.parent.span_id == request_span.context.span_id
    assert request_span.kind is SpanKind.SERVER
    assert command_span.kind is SpanKind.INTERNAL
    assert dict(request_span.attributes or {}) == {"url.path": "/g"}
    assert dict(command_span.attributes or {}) == {"k": 1}
    assert request.trace_parent == f"00-{TRACE_ID:032x}-{request_span.context.span_id:016x}-01"
    assert request_span.resource.attributes["service.name"] == "kingdom-test"


def test_a_missing_or_invalid_parent_starts_a_new_trace(
    exported: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = exported
    for parent in (None, "00-junk"):
        with tracing.tracer.span("consume Pinged", parent, kind="consumer") as span:
            assert span.trace_parent is not None
            assert parse_traceparent(span.trace_parent) == span.trace_parent

    first, second = exporter.get_finished_spans()
    assert first.parent is None
    assert second.parent is None
    assert first.context.trace_id != second.context.trace_id


def test_an_error_records_its_type_and_never_its_message(
    exported: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = exported
    with (
        pytest.raises(ValueError, match="ann@example.org"),
        tracing.tracer.span("command Register", None),
    ):
        raise ValueError("ann@example.org is taken")
    with tracing.tracer.span("publish x", None) as refused:
        refused.set_error("refused by the transport")

    failed, marked = exporter.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ValueError"
    assert dict(failed.attributes or {}) == {"error.type": "ValueError"}
    assert failed.events == ()  # no exception event: it would carry the message
    assert marked.status.description == "refused by the transport"


def test_a_parent_that_is_not_sampled_stays_unrecorded_in_the_same_trace(
    exported: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = exported
    unsampled = OFFERED[:-2] + "00"
    with tracing.tracer.span("POST /graphql", unsampled) as span:
        assert span.trace_parent is not None
        assert span.trace_parent[3:35] == OFFERED[3:35]
        assert span.trace_parent.endswith("-00")
    assert exporter.get_finished_spans() == ()


def test_the_service_name_defaults_and_otel_service_name_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    default = tracing_to(InMemorySpanExporter(), "kingdom-worker", batch=False)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing-worker")
    named = tracing_to(InMemorySpanExporter(), "kingdom-worker", batch=False)
    try:
        assert default.provider.resource.attributes["service.name"] == "kingdom-worker"
        assert named.provider.resource.attributes["service.name"] == "billing-worker"
    finally:
        default.shutdown()
        named.shutdown()


def test_nothing_configured_means_no_tracing() -> None:
    assert configure_tracing(None, "kingdom-server") is None
    assert configure_tracing("", "kingdom-server") is None


def test_an_endpoint_configures_an_otlp_http_exporter_in_batches() -> None:
    tracing = configure_tracing("http://127.0.0.1:9/v1/traces", "kingdom-server")
    assert tracing is not None
    try:
        processor = tracing.provider._active_span_processor._span_processors[0]
        assert type(processor).__name__ == "BatchSpanProcessor"
    finally:
        tracing.shutdown()  # no span was made: nothing is sent


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({}, None),
        (
            {"KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
            "http://collector:4318/v1/traces",
        ),
        (
            {"KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/v1/traces/"},
            "http://c:4318/v1/traces",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example.org/"},
            "https://otel.example.org/v1/traces",
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}, "http://c:4318/custom"),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces/x",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://base",
            },
            "http://traces/x",
        ),
        (
            {
                "KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT": "http://ours:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://theirs/v1/traces",
            },
            "http://ours:4318/v1/traces",
        ),
    ],
)
def test_where_spans_go_is_read_with_the_settings(
    environ: dict[str, str], endpoint: str | None
) -> None:
    assert WorkerSettings.from_environ(environ).otel_traces_endpoint == endpoint
    assert traces_endpoint(None, {}) is None


def test_a_bad_kingdom_endpoint_is_a_setting_error() -> None:
    with pytest.raises(SettingsError, match="KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT"):
        WorkerSettings.from_environ({"KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})


def record(message: str = "hello") -> logging.LogRecord:
    return logging.LogRecord("kingdom.workers", logging.WARNING, __file__, 1, message, None, None)


def test_the_filter_puts_the_current_trace_id_on_records() -> None:
    trace_filter = TraceIdFilter()
    inside, outside, explicit = record(), record(), record()
    explicit.trace_id = "given"

    with in_trace(OFFERED):
        assert trace_filter.filter(inside)
        assert trace_filter.filter(explicit)
    assert trace_filter.filter(outside)

    assert inside.trace_id == f"{TRACE_ID:032x}"  # type: ignore[attr-defined]
    assert outside.trace_id is None  # type: ignore[attr-defined]
    assert explicit.trace_id == "given"  # type: ignore[attr-defined]


def test_the_json_formatter_writes_the_trace_id_when_there_is_one() -> None:
    formatter, trace_filter = JsonFormatter(), TraceIdFilter()
    inside, outside = record(), record()
    with in_trace(OFFERED):
        trace_filter.filter(inside)
    trace_filter.filter(outside)

    assert json.loads(formatter.format(inside))["trace_id"] == f"{TRACE_ID:032x}"
    assert "trace_id" not in json.loads(formatter.format(outside))


def test_the_servers_logging_config_filters_its_handler() -> None:
    config = logging_config()
    assert config["handlers"]["stderr"]["filters"] == ["trace_id"]
    handler = logging.StreamHandler()
    add_trace_ids([handler, handler])
    assert sum(isinstance(f, TraceIdFilter) for f in handler.filters) == 1
