"""OpenTelemetry set-up from the standard `OTEL_*` variables, and trace context over NATS.

Traces are exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific
variable) is set — Jaeger ingests OTLP directly. gRPC carries context through the OpenTelemetry
interceptors; NATS carries it in the `traceparent` message header.

A process that installs no tracer provider (the `stratos` CLI) records nothing, so its gRPC
channels skip the interceptors (`active`) and it never imports OpenTelemetry, which took ~0.5 s
of every command's start. OpenTelemetry is imported inside the functions for the same reason.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

_provider: TracerProvider | None = None


def setup_tracing(service: str) -> TracerProvider:
    """Install a tracer provider named for the service; idempotent."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    global _provider
    if _provider is not None:
        return _provider
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint and os.environ.get("OTEL_TRACES_EXPORTER", "otlp") != "none":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop exporters (call on the way out)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def active() -> bool:
    """Whether this process records spans: a tracer provider was installed, by `setup_tracing`
    or by an application that embeds the SDK. (Without OpenTelemetry imported, none can be.)"""
    if "opentelemetry.trace" not in sys.modules:
        return False
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def tracer(name: str) -> trace.Tracer:
    from opentelemetry import trace

    return trace.get_tracer(name)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers for a NATS message carrying the current trace context (`traceparent`)."""
    from opentelemetry import propagate

    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_context(headers: dict[str, str] | None):
    """The trace context a NATS message carried, to start a consumer span under."""
    from opentelemetry import propagate

    return propagate.extract(headers or {})


def grpc_server_interceptors() -> list:
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]


def grpc_client_interceptors() -> list:
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())
