"""OpenTelemetry tracing, on only when an OTLP exporter is configured
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): Django requests, Celery
tasks and httpx calls become spans, and log lines carry their trace and span IDs.

The exporter's own HTTP requests go to the collector the operator configured, not to a
service under test, so they do not pass through the guarded client; the endpoint is still
checked against PREFLIGHT_OUTBOUND_ALLOWLIST at start-up."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
_configured = False


def exporter_endpoint() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT", ""
    )


def configure_tracing(service_name: str, *, span_processor: object | None = None) -> bool:
    """Install the tracer provider and instrumentations once per process. Returns whether
    tracing is on. ``span_processor`` replaces the OTLP batch processor (tests)."""
    global _configured
    endpoint = exporter_endpoint()
    if _configured or (not endpoint and span_processor is None):
        return _configured
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if span_processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Imported only when an exporter is configured, like OpenTelemetry above: the
        # guarded client (httpx and the engine) is not loaded by every process start.
        from checks.selectors import outbound_policy

        outbound_policy().check_url(endpoint)
        span_processor = BatchSpanProcessor(OTLPSpanExporter())
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(span_processor)  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    _configured = True
    log.info("tracing on", extra={"otlp_host": urlsplit(endpoint).hostname or "in-process"})
    return True
