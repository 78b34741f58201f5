"""Entry point of the operator process: settings from the environment, JSON logs, metrics on
their port, then kopf with the liveness endpoint — watching one namespace or all of them."""

from __future__ import annotations

import sys

import kopf
from kubernetes import client, config

from stratos.common.config import load_settings
from stratos.common.errors import ConfigError
from stratos.operator import handlers, logs, metrics
from stratos.operator.config import OperatorSettings
from stratos.operator.kube import ApiKube


def _api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()  # outside a cluster: $KUBECONFIG or ~/.kube/config
    return client.ApiClient()


def main() -> None:
    try:
        settings = load_settings(OperatorSettings)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    logs.configure(settings.log_level)
    try:
        api = _api_client()
    except config.ConfigException as err:
        print(f"error: no Kubernetes configuration found: {err}", file=sys.stderr)
        sys.exit(2)
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings, ApiKube(api))
    metrics.serve(settings.metrics_port)
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=not settings.watch_namespace,
        namespaces=[settings.watch_namespace] if settings.watch_namespace else (),
        liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz",
    )
