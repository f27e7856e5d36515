"""Spans to an OpenTelemetry collector, only when one is configured.

:func:`traces_endpoint` says where spans go, from the settings: Kingdom's
``KINGDOM_OTEL_EXPORTER_OTLP_ENDPOINT``, else OpenTelemetry's standard
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL) or
``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL, as Kingdom's is: ``/v1/traces``
is appended). None of them: no tracing at all.

:func:`configure_tracing` then builds a :class:`Tracing`: a tracer provider
of its own (never OpenTelemetry's global one, so two in a process, or one per
test, do not interfere) exporting over OTLP/HTTP (protobuf) in batches from a
background thread, and the :class:`~kingdom.services.tracing.Tracer` the
composition roots inject. The service is named ``service_name`` unless
``OTEL_SERVICE_NAME`` (or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``)
says otherwise; the exporter's other standard variables (headers,
compression, timeout) apply as OpenTelemetry documents them.

The SDK is imported only here, inside the functions: importing it takes about
0.2 s, which a process without tracing (a Lambda cold start, the admin
command line) should not pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kingdom.services.tracing import Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACES_PATH: Final = "/v1/traces"
FLUSH_TIMEOUT_MILLIS: Final = 5_000
"""How long a flush (end of a Lambda invocation, shutdown) may wait for the collector."""


def traces_endpoint(kingdom_endpoint: str | None, environ: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL to export to, or ``None`` for no tracing (see the module doc)."""
    if kingdom_endpoint:
        return _with_traces_path(kingdom_endpoint)
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return _with_traces_path(base) if base else None


def _with_traces_path(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


@dataclass(frozen=True)
class Tracing:
    """A configured tracer and the provider behind it (flush it, shut it down)."""

    tracer: Tracer
    provider: TracerProvider

    def flush(self) -> None:
        """Export every ended span now (a Lambda container may be frozen right after)."""
        self.provider.force_flush(FLUSH_TIMEOUT_MILLIS)

    def shutdown(self) -> None:
        """Flush and stop the exporter (at process exit)."""
        self.provider.shutdown()


def configure_tracing(endpoint: str | None, service_name: str) -> Tracing | None:
    """Spans exported to ``endpoint`` (an OTLP/HTTP traces URL) as ``service_name``; ``None``
    when no endpoint is configured."""
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return tracing_to(OTLPSpanExporter(endpoint=endpoint), service_name)


def tracing_to(exporter: SpanExporter, service_name: str, *, batch: bool = True) -> Tracing:
    """Spans handed to ``exporter``: in batches from a thread, or (``batch=False``, tests)
    each as it ends."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from kingdom.adapters.otel_tracer import OtelTracer

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES;
    # without either it names the service "unknown_service", which ours replaces.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    # Not made the global provider: nothing here reads OpenTelemetry's globals.
    provider = TracerProvider(resource=resource, shutdown_on_exit=True)
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return Tracing(OtelTracer(provider.get_tracer("kingdom")), provider)
