"""The index: a Deployment (it keeps no local state — manifests live in JetStream KV and the node
registry is rebuilt from the heartbeat stream) and a ClusterIP Service for its gRPC API.

With validators it is pointed at the ledger (STRATOS_CONSENSUS_ADDRESSES, the validators' pod
addresses: the chain client fails over between them, and they are the names the validators'
certificate carries): it reserves a payer's ozone before it signs tickets, and places nothing
new on the storage nodes the ledger suspended. Without validators traffic is free."""

from __future__ import annotations

from typing import Any

from stratos.operator.builders import tls, validators
from stratos.operator.builders.identity_files import (
    admission_env,
    admission_volume,
    identity_env,
    identity_volume,
    index_node_id,
)
from stratos.operator.builders.meta import (
    PORT_INDEX,
    DefaultImages,
    common_env,
    container_security_context,
    grpc_probes,
    image,
    jetstream_env,
    labels,
    metadata,
    pod_security_context,
    selector_labels,
    tmp_volume,
)
from stratos.operator.builders.spec import Cluster

COMPONENT = "index"


def service(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "selector": selector_labels(cluster, COMPONENT),
            "ports": [{"name": "grpc", "port": PORT_INDEX, "targetPort": "grpc"}],
        },
    }


def ledger_env(cluster: Cluster) -> list[dict[str, Any]]:
    if not cluster.spec.validators.replicas:
        return []
    return [{"name": "STRATOS_CONSENSUS_ADDRESSES", "value": validators.peers(cluster)}]


def deployment(cluster: Cluster, defaults: DefaultImages, admin_key_hex: str) -> dict[str, Any]:
    """Every replica is the meta node `index_node_id(cluster)` (a Deployment's pods have no
    stable names to give each its own)."""
    spec = cluster.spec.index
    tmp, tmp_mount = tmp_volume()
    identity, identity_mount = identity_volume(cluster, COMPONENT)
    admission, admission_mount = admission_volume(cluster)
    node = index_node_id(cluster)
    container = {
        "name": "index",
        "image": image(cluster, defaults, COMPONENT),
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "env": [
            {"name": "STRATOS_GRPC_ADDRESS", "value": f"0.0.0.0:{PORT_INDEX}"},
            *jetstream_env(cluster),
            {"name": "STRATOS_NODE_ID", "value": node},
            *identity_env(node, "STRATOS_IDENTITY_FILE"),
            *admission_env(cluster, admin_key_hex),
            *ledger_env(cluster),
            *common_env(cluster, COMPONENT),
            *tls.env(PORT_INDEX),
        ],
        "ports": [
            {"name": "grpc", "containerPort": PORT_INDEX},
            {"name": "health", "containerPort": tls.health_port(PORT_INDEX)},
        ],
        **grpc_probes(tls.health_port(PORT_INDEX)),
        "volumeMounts": [tmp_mount, tls.mount(), identity_mount, admission_mount],
        "securityContext": container_security_context(),
        "resources": spec.resources.manifest(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector_labels(cluster, COMPONENT)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(cluster, COMPONENT)},
                "spec": {
                    "securityContext": pod_security_context(),
                    "automountServiceAccountToken": False,  # it never calls the API server
                    "containers": [container],
                    "volumes": [tmp, tls.volume(cluster, COMPONENT), identity, admission],
                },
            },
        },
    }


def build(cluster: Cluster, defaults: DefaultImages, admin_key_hex: str) -> list[dict[str, Any]]:
    return [service(cluster), deployment(cluster, defaults, admin_key_hex)]
