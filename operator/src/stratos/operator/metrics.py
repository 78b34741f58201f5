"""The operator's Prometheus metrics, served on their own port (`STRATOS_METRICS_PORT`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "stratos_operator_reconciles_total",
    "Reconciliation passes, by trigger and result (ok, invalid_spec, retry, error).",
    ["trigger", "result"],
)
RECONCILE_SECONDS = Histogram(
    "stratos_operator_reconcile_seconds",
    "Wall time of one reconciliation pass.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHILD_CHANGES = Counter(
    "stratos_operator_child_changes_total",
    "Children created, updated or removed (created on a later pass = drift healed).",
    ["change"],
)
CLUSTER_READY = Gauge(
    "stratos_operator_cluster_ready",
    "1 when the StratosCluster's phase is Ready, else 0.",
    ["namespace", "name"],
)


def serve(port: int) -> None:
    start_http_server(port)
