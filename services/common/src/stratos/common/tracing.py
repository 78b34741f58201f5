"""OpenTelemetry set-up from the standard `OTEL_*` variables, and trace context over NATS.

Traces are exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific
variable) is set — Jaeger ingests OTLP directly. gRPC carries context through the OpenTelemetry
interceptors; NATS carries it in the `traceparent` message header.

A process that installs no tracer provider (the `stratos` CLI) records nothing, so its gRPC
channels skip the interceptors (`active`) and it never imports OpenTelemetry, which took ~0.5 s
of every command's start. OpenTelemetry is imported inside the functions for the same reason.

A service with no exporter configured records nothing either: its provider samples nothing and
its gRPC servers and channels get no interceptors (`recording`). Spans that go nowhere cost
about a tenth of the index's CPU on small puts and gets. NATS messages still carry a
`traceparent`, so the set-up is the same with and without an exporter.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from stratos.common import env
from stratos.common.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

_provider: TracerProvider | None = None
_exporting = False


def setup_tracing(service: str) -> TracerProvider:
    """Install a tracer provider named for the service; idempotent."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    global _provider, _exporting
    if _provider is not None:
        return _provider
    endpoint = otlp_endpoint()
    resource = Resource.create({"service.name": env.value("OTEL_SERVICE_NAME") or service})
    if endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=resource)
        # Passed on, not left to the exporter: it would take an empty variable as the endpoint.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    else:
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    trace.set_tracer_provider(provider)
    _provider, _exporting = provider, bool(endpoint)
    return provider


def otlp_endpoint() -> str | None:
    """Where spans go (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT), or
    None: neither set, or OTEL_TRACES_EXPORTER=none. Empty counts as unset, like every OTEL_*
    variable; a malformed one stops the service with its name."""
    exporter = (env.value("OTEL_TRACES_EXPORTER") or "otlp").strip()
    if exporter not in ("otlp", "none"):
        raise ConfigError(f"OTEL_TRACES_EXPORTER must be otlp or none, not {exporter!r}")
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint = env.value(name)
        if endpoint is None:
            continue
        if not _is_http_url(endpoint.strip()):
            raise ConfigError(
                f"{name} must be a URL such as http://collector:4317, not {endpoint!r}"
            )
        return None if exporter == "none" else endpoint.strip()
    return None


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number from 0 to 65535)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def shutdown_tracing() -> None:
    """Flush and stop exporters (call on the way out)."""
    global _provider, _exporting
    if _provider is not None:
        _provider.shutdown()
        _provider, _exporting = None, False


def active() -> bool:
    """Whether this process records spans: a tracer provider was installed, by `setup_tracing`
    or by an application that embeds the SDK. (Without OpenTelemetry imported, none can be.)"""
    if "opentelemetry.trace" not in sys.modules:
        return False
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def recording() -> bool:
    """Whether spans made here go anywhere: `setup_tracing` found an exporter, or an
    application that embeds the SDK installed its own provider."""
    if _provider is not None:
        return _exporting
    return active()


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
    if not recording():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]


def grpc_client_interceptors() -> list:
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())
