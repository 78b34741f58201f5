"""What every child object shares: names, labels, owner references, hardened pod settings,
probes and the environment all Stratos services read.

Selector labels are a stable subset of the labels (name, instance, component): a StatefulSet's
selector is immutable, so nothing that changes with an upgrade (version) may be in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stratos.operator.builders.spec import API_VERSION, KIND, Cluster

MANAGED_BY = "stratos-operator"
APP_NAME = "stratos"
UID = 10001  # the non-root user of every Stratos image (services/*/Dockerfile)

# Claims go with the cluster (deleting it removes everything it made), but stay when a
# StatefulSet scales down: a node removed by force keeps its chunks for when it comes back.
CLAIM_RETENTION = {"whenDeleted": "Delete", "whenScaled": "Retain"}

PORT_STORAGE = 7000
PORT_INDEX = 7100
PORT_CONSENSUS = 7200
PORT_INCENTIVE = 7300  # gRPC serves only health: nobody calls an incentive replica
PORT_NATS_CLIENT = 4222
PORT_NATS_CLUSTER = 6222
PORT_NATS_MONITOR = 8222


@dataclass(frozen=True)
class DefaultImages:
    """The images the operator uses when the CR names none (set from the chart's values)."""

    nats: str = "nats:2.10-alpine"
    index: str = "stratos-index:latest"
    storage: str = "stratos-storage:latest"
    consensus: str = "stratos-consensus:latest"
    incentive: str = "stratos-incentive:latest"


def image(cluster: Cluster, defaults: DefaultImages, component: str) -> str:
    return getattr(cluster.spec.images, component) or getattr(defaults, component)


def child_name(cluster: Cluster, component: str) -> str:
    return f"{cluster.name}-{component}"


def selector_labels(cluster: Cluster, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": cluster.name,
        "app.kubernetes.io/component": component,
    }


def labels(cluster: Cluster, component: str) -> dict[str, str]:
    return {
        **selector_labels(cluster, component),
        "app.kubernetes.io/part-of": APP_NAME,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector_string(cluster: Cluster, component: str) -> str:
    """The label selector as `kubectl` and the scale subresource's labelSelectorPath want it."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(cluster, component).items()))


def owner_reference(cluster: Cluster) -> dict[str, Any]:
    """Children are garbage-collected with the CR; `controller` marks the operator as theirs."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": cluster.name,
        "uid": cluster.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(cluster: Cluster, component: str, name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or child_name(cluster, component),
        "namespace": cluster.namespace,
        "labels": labels(cluster, component),
        "ownerReferences": [owner_reference(cluster)],
    }


def pod_security_context(uid: int = UID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def grpc_probes(port: int) -> dict[str, Any]:
    """Native gRPC probes against the standard health service every Stratos server runs."""
    return {
        "startupProbe": {"grpc": {"port": port}, "periodSeconds": 2, "failureThreshold": 60},
        "readinessProbe": {"grpc": {"port": port}, "periodSeconds": 5},
        "livenessProbe": {"grpc": {"port": port}, "periodSeconds": 10, "failureThreshold": 3},
    }


def pod_name_env() -> list[dict[str, Any]]:
    """POD_NAME first, so later variables can use `$(POD_NAME)`."""
    return [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]


def nats_url(cluster: Cluster) -> str:
    return f"tls://{child_name(cluster, 'nats')}.{cluster.namespace}.svc:{PORT_NATS_CLIENT}"


def jetstream_replicas(cluster: Cluster) -> int:
    """Copies of every stream and KV bucket: one per server up to 3, so a clustered NATS
    keeps an acknowledged manifest on a majority of three disks (more copies only slow
    writes; JetStream's RAFT needs a majority of the stream's replicas, not of the servers)."""
    return min(3, cluster.spec.nats.replicas)


def jetstream_env(cluster: Cluster) -> list[dict[str, Any]]:
    """Where NATS is and how many copies the streams and buckets a service creates keep."""
    return [
        {"name": "STRATOS_NATS_URL", "value": nats_url(cluster)},
        {"name": "STRATOS_NATS_REPLICAS", "value": str(jetstream_replicas(cluster))},
    ]


def common_env(cluster: Cluster, service: str) -> list[dict[str, Any]]:
    env = [
        {"name": "STRATOS_LOG_LEVEL", "value": cluster.spec.log_level},
        {"name": "OTEL_SERVICE_NAME", "value": f"stratos-{service}"},
    ]
    if cluster.spec.otlp_endpoint:
        env.append({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": cluster.spec.otlp_endpoint})
    return env


def tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """An emptyDir on /tmp: the root filesystem is read-only."""
    return {"name": "tmp", "emptyDir": {}}, {"name": "tmp", "mountPath": "/tmp"}


def pvc_template(name: str, size: str, storage_class_name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class_name:  # "" on a claim means "no class", not "the default class"
        spec["storageClassName"] = storage_class_name
    return {"metadata": {"name": name}, "spec": spec}
