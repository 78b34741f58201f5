"""The operator's output is structlog JSON like every service's: our own events, kopf's records
(per-object ones naming their object), the Kubernetes client's, warnings from other threads and
logged exceptions are each one JSON line with event, level, timestamp and service="operator".

The setup is global (root handlers, structlog's config), so it runs in a child process: the
lines are what the operator would print."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import logging, threading

    import kopf

    from stratos.common.logging import get_logger
    from stratos.operator import logs

    logs.configure("debug")
    get_logger(__name__).info("reconcile_started", cluster="demo")
    body = kopf.Body({
        "apiVersion": "stratos.io/v1alpha1", "kind": "StratosCluster",
        "metadata": {"name": "demo", "namespace": "mesh", "uid": "1234-uid"},
    })
    kopf.LocalObjectLogger(body=body, settings=kopf.OperatorSettings()).info("Handler succeeded.")
    logging.getLogger("kopf.activities.startup").warning("Startup handler is slow.")
    logging.getLogger("kubernetes.client.rest").debug("response body: %s", "{}")
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("kopf._core.reactor").exception("Watcher has failed.")
    thread = threading.Thread(
        target=lambda: logging.getLogger("urllib3.connectionpool").warning("Retrying")
    )
    thread.start()
    thread.join()
    """
)


@pytest.fixture(scope="module")
def operator_lines() -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 6, proc.stdout
    return [json.loads(line) for line in lines]  # a line that is not JSON fails here


def test_every_line_the_operator_prints_is_one_json_object_with_the_service_keys(operator_lines):
    for line in operator_lines:
        assert line["service"] == "operator"
        assert line["event"] and line["level"] and line["timestamp"].endswith("Z")


def test_kopf_and_kubernetes_records_keep_their_level_logger_and_object(operator_lines):
    ours, handler, startup, client, failed, retry = operator_lines
    assert (ours["event"], ours["cluster"], ours["level"]) == ("reconcile_started", "demo", "info")
    assert handler["event"] == "Handler succeeded."
    assert handler["logger"] == "kopf.objects"
    assert handler["object"]["name"] == "demo" and handler["object"]["namespace"] == "mesh"
    assert (startup["level"], startup["logger"]) == ("warning", "kopf.activities.startup")
    assert (client["event"], client["level"]) == ("response body: {}", "debug")
    assert failed["level"] == "error" and "ZeroDivisionError" in failed["exception"]
    assert (retry["logger"], retry["level"]) == ("urllib3.connectionpool", "warning")
