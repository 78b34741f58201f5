"""Storage nodes: a StatefulSet with one volume per node, and the headless Service that gives each
node a stable DNS name.

A node's identity is its pod name (`<cluster>-storage-<ordinal>`): stable across restarts and
rescheduling, and the same name the operator asks the index to drain on scale-down. The node
advertises `<pod>.<service>.<namespace>.svc:7000` in its heartbeats, so clients reach it directly.

Zones: `spec.storage.zones` are assigned to ordinals round-robin (ordinal i → zones[i mod n]) and
set as `STRATOS_ZONE`, which the index uses to spread copies; pods are also spread across the
nodes' `topology.kubernetes.io/zone`. The two agree only as far as the scheduler manages to
spread evenly — a logical zone, not a guarantee (per-zone StatefulSets would make it one).
"""

from __future__ import annotations

from typing import Any

from stratos.operator.builders import tls
from stratos.operator.builders.identity_files import (
    admission_env,
    admission_volume,
    identity_env,
    identity_volume,
)
from stratos.operator.builders.meta import (
    CLAIM_RETENTION,
    PORT_STORAGE,
    DefaultImages,
    child_name,
    common_env,
    container_security_context,
    grpc_probes,
    image,
    jetstream_env,
    labels,
    metadata,
    pod_name_env,
    pod_security_context,
    pvc_template,
    selector_labels,
    tmp_volume,
)
from stratos.operator.builders.spec import Cluster

COMPONENT = "storage"
VOLUME = "data"

# Picks this ordinal's zone from the space-separated STRATOS_ZONES, then becomes the node.
# STRATOS_ZONES is the script's alone: the node refuses a STRATOS_* variable it does not read.
ZONE_SCRIPT = """\
set -eu
ordinal="${POD_NAME##*-}"
set -- $STRATOS_ZONES
shift $(( ordinal % $# ))
export STRATOS_ZONE="$1"
unset STRATOS_ZONES
exec stratos-storage
"""


def node_id(cluster: Cluster, ordinal: int) -> str:
    """The storage node ID of an ordinal: its pod name."""
    return f"{child_name(cluster, COMPONENT)}-{ordinal}"


def zone_of(cluster: Cluster, ordinal: int) -> str | None:
    zones = cluster.spec.storage.zones
    return zones[ordinal % len(zones)] if zones else None


def headless_service(cluster: Cluster) -> dict[str, Any]:
    # Not-ready pods are published too: liveness is the index's call (heartbeats), and a node
    # must be reachable by name as soon as it heartbeats.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector_labels(cluster, COMPONENT),
            "ports": [{"name": "grpc", "port": PORT_STORAGE, "targetPort": "grpc"}],
        },
    }


def stateful_set(
    cluster: Cluster, defaults: DefaultImages, replicas: int, admin_key_hex: str
) -> dict[str, Any]:
    """`replicas` is what the scale-down plan allows, which may lag spec.storage.replicas while
    the highest nodes drain; `admin_key_hex` is the mesh admin's public key."""
    storage = cluster.spec.storage
    name = child_name(cluster, COMPONENT)
    tmp, tmp_mount = tmp_volume()
    # each pod picks its own key and NATS user by its name, which is its node ID
    identity, identity_mount = identity_volume(cluster, COMPONENT)
    admission, admission_mount = admission_volume(cluster)
    env = [
        *pod_name_env(),
        {"name": "STRATOS_NODE_ID", "value": "$(POD_NAME)"},
        {"name": "STRATOS_GRPC_ADDRESS", "value": f"0.0.0.0:{PORT_STORAGE}"},
        {
            "name": "STRATOS_ADVERTISE_ADDRESS",
            "value": f"$(POD_NAME).{name}.$(POD_NAMESPACE).svc:{PORT_STORAGE}",
        },
        *jetstream_env(cluster),
        {"name": "STRATOS_DATA_DIR", "value": "/data"},
        {"name": "STRATOS_CAPACITY_BYTES", "value": str(storage.capacity_bytes)},
        *identity_env("$(POD_NAME)", "STRATOS_NODE_KEY_FILE"),
        *admission_env(cluster, admin_key_hex),
        *common_env(cluster, COMPONENT),
        *tls.env(PORT_STORAGE),
    ]
    container: dict[str, Any] = {
        "name": "storage",
        "image": image(cluster, defaults, COMPONENT),
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "env": env,
        "ports": [
            {"name": "grpc", "containerPort": PORT_STORAGE},
            {"name": "health", "containerPort": tls.health_port(PORT_STORAGE)},
        ],
        **grpc_probes(tls.health_port(PORT_STORAGE)),
        "volumeMounts": [
            {"name": VOLUME, "mountPath": "/data"},
            tmp_mount,
            tls.mount(),
            identity_mount,
            admission_mount,
        ],
        "securityContext": container_security_context(),
        "resources": storage.resources.manifest(),
    }
    if storage.zones:
        env.append({"name": "STRATOS_ZONES", "value": " ".join(storage.zones)})
        container["command"] = ["/bin/sh", "-c", ZONE_SCRIPT]
    pod_labels = labels(cluster, COMPONENT)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            # scale-up is immediate: new nodes start together; scale-down still removes the
            # highest ordinals first (a StatefulSet always does)
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector_labels(cluster, COMPONENT)},
            "persistentVolumeClaimRetentionPolicy": CLAIM_RETENTION,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "securityContext": pod_security_context(),
                    "automountServiceAccountToken": False,  # it never calls the API server
                    "terminationGracePeriodSeconds": 30,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": key,
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector_labels(cluster, COMPONENT)},
                        }
                        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
                    ],
                    "containers": [container],
                    "volumes": [tmp, tls.volume(cluster, COMPONENT), identity, admission],
                },
            },
            "volumeClaimTemplates": [
                pvc_template(VOLUME, storage.size, storage.storage_class_name)
            ],
        },
    }


def claim_name(cluster: Cluster, ordinal: int) -> str:
    """The PersistentVolumeClaim a StatefulSet makes for an ordinal: <template>-<pod>."""
    return f"{VOLUME}-{node_id(cluster, ordinal)}"


def build(
    cluster: Cluster, defaults: DefaultImages, replicas: int, admin_key_hex: str
) -> list[dict[str, Any]]:
    return [headless_service(cluster), stateful_set(cluster, defaults, replicas, admin_key_hex)]
