"""A service records spans only when they go somewhere; NATS headers carry context either way.

Each case runs in its own interpreter: OpenTelemetry lets a process set its provider once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, os, sys
from stratos.common import grpcutil, tracing
tracing.setup_tracing("probe")
with tracing.tracer("probe").start_as_current_span("work") as span:
    headers = tracing.inject_headers()
    print(json.dumps({
        "recording": tracing.recording(),
        "span_recording": span.is_recording(),
        "server_interceptors": len(tracing.grpc_server_interceptors()),
        "metadata": len(grpcutil.trace_metadata()),
        "traceparent": "traceparent" in headers,
    }), flush=True)
    os._exit(0)  # before the span ends: nothing to export, nothing to wait for
"""


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_an_exporter_nothing_is_recorded_and_grpc_goes_without_interceptors():
    got = probe()
    assert got == {
        "recording": False,
        "span_recording": False,
        "server_interceptors": 0,
        "metadata": 0,
        "traceparent": True,  # a NATS consumer downstream still sees where the message came from
    }


def test_with_an_exporter_spans_are_recorded_and_grpc_carries_them():
    got = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert got["recording"] and got["span_recording"] and got["traceparent"]
    assert got["server_interceptors"] == 1 and got["metadata"] >= 1
