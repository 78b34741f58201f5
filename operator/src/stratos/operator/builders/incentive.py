"""Incentive replicas (Proof-of-Traffic settlement): a keys Secret, a headless Service and a
StatefulSet, made only when the cluster runs validators (there is no chain to settle on without).

Each replica is a distinct bonded meta node on the ledger: it signs each epoch's report with its
own ed25519 key, and an epoch settles once two thirds of the meta nodes signed the same report.
So, like the validators' keys, one key per replica is made once with the genesis (`keys.py`),
kept in an immutable Secret and never rewritten, and the genesis registers each replica's
address as a meta node with a deposit and funds it for its report fees
(`validators.genesis_document`). How many replicas run is therefore fixed by that material, not
by the spec: `replicas(material)` — a spec that asks for another number (past the CRD's rule,
or on a cluster whose genesis predates the incentive service) changes nothing, and the status
says so (`status.incentive_condition`).

Each pod picks its own key by its pod name (`$(POD_NAME).pem`, its node ID in the admission list,
as an incentive node); the keys are mounted whole, so a replica could read its siblings' keys —
the replicas of one cluster are one trust domain, like its validators. A replica keeps nothing of
its own (it re-reads the NATS traffic stream after a restart), so it has no volume.

It reaches the ledger through the validators' pod addresses (`validators.peers`): the chain
client fails over between them itself, and they are the names the validators' certificate
carries.
"""

from __future__ import annotations

from typing import Any

from stratos.operator.builders import tls, validators
from stratos.operator.builders.identity_files import (
    admission_env,
    admission_volume,
    identity_env,
    identity_volume,
)
from stratos.operator.builders.meta import (
    PORT_INCENTIVE,
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
    selector_labels,
    tmp_volume,
)
from stratos.operator.builders.secrets import secret_files
from stratos.operator.builders.spec import Cluster
from stratos.operator.builders.validators import ValidatorMaterial

COMPONENT = "incentive"
KEYS_DIR = "/etc/stratos/keys"


def pod_name(cluster: Cluster, ordinal: int) -> str:
    """A replica's pod name, which is its node ID in the admission list."""
    return f"{child_name(cluster, COMPONENT)}-{ordinal}"


def pod_names(cluster: Cluster, replicas: int) -> list[str]:
    return [pod_name(cluster, i) for i in range(replicas)]


def is_pod(cluster: Cluster, node: str) -> bool:
    ordinal = node.removeprefix(f"{child_name(cluster, COMPONENT)}-")
    return ordinal != node and ordinal.isdigit()


def replicas(material: ValidatorMaterial | None) -> int:
    """The replicas that run: one per key made with the genesis."""
    return len(material.incentive_keys_pem) if material else 0


def quorum(n: int) -> int:
    """⌈2n/3⌉: the replicas whose signatures settle an epoch."""
    return -(-2 * n // 3)


def keys_secret_name(cluster: Cluster) -> str:
    return f"{child_name(cluster, COMPONENT)}-keys"


def keys_secret(cluster: Cluster, material: ValidatorMaterial) -> dict[str, Any]:
    return validators.immutable_keys_secret(
        cluster, COMPONENT, keys_secret_name(cluster), material.incentive_keys_pem
    )


def headless_service(cluster: Cluster) -> dict[str, Any]:
    """The StatefulSet's governing Service (stable pod names); nothing connects to a replica."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(cluster, COMPONENT),
            "ports": [{"name": "grpc", "port": PORT_INCENTIVE, "targetPort": "grpc"}],
        },
    }


def stateful_set(
    cluster: Cluster, defaults: DefaultImages, count: int, admin_key_hex: str
) -> dict[str, Any]:
    """`count` replicas (`replicas(material)`); `admin_key_hex` is the mesh admin's public key."""
    tmp, tmp_mount = tmp_volume()
    keys, keys_mount = secret_files("keys", keys_secret_name(cluster), KEYS_DIR)
    nats_user, nats_user_mount = identity_volume(cluster, COMPONENT)  # its NATS user
    admission, admission_mount = admission_volume(cluster)
    container = {
        "name": "incentive",
        "image": image(cluster, defaults, COMPONENT),
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "env": [
            *pod_name_env(),
            {"name": "STRATOS_NODE_ID", "value": "$(POD_NAME)"},
            {"name": "STRATOS_IDENTITY_FILE", "value": f"{KEYS_DIR}/$(POD_NAME).pem"},
            {"name": "STRATOS_GRPC_ADDRESS", "value": f"0.0.0.0:{PORT_INCENTIVE}"},
            {"name": "STRATOS_CONSENSUS_ADDRESSES", "value": validators.peers(cluster)},
            *jetstream_env(cluster),
            *identity_env("$(POD_NAME)", None),
            *admission_env(cluster, admin_key_hex),
            *common_env(cluster, COMPONENT),
            *tls.env(PORT_INCENTIVE),
        ],
        "ports": [
            {"name": "grpc", "containerPort": PORT_INCENTIVE},
            {"name": "health", "containerPort": tls.health_port(PORT_INCENTIVE)},
        ],
        **grpc_probes(tls.health_port(PORT_INCENTIVE)),
        "volumeMounts": [
            keys_mount,
            nats_user_mount,
            admission_mount,
            tmp_mount,
            tls.mount(),
        ],
        "securityContext": container_security_context(),
        "resources": cluster.spec.incentive.resources.manifest(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "serviceName": child_name(cluster, COMPONENT),
            "replicas": count,
            # a replica needs no other to start: each reads the stream on its own
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector_labels(cluster, COMPONENT)},
            "template": {
                "metadata": {"labels": labels(cluster, COMPONENT)},
                "spec": {
                    "securityContext": pod_security_context(),
                    "automountServiceAccountToken": False,  # it never calls the API server
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector_labels(cluster, COMPONENT)},
                        }
                    ],
                    "containers": [container],
                    "volumes": [
                        keys,
                        nats_user,
                        admission,
                        tmp,
                        tls.volume(cluster, COMPONENT),
                    ],
                },
            },
        },
    }


def secrets(cluster: Cluster, material: ValidatorMaterial | None) -> list[dict[str, Any]]:
    """The keys Secret, applied before the genesis that names its keys' addresses (an operator
    stopped between the two finds the keys again, so the genesis it then writes names them)."""
    return [keys_secret(cluster, material)] if material and replicas(material) else []


def build(
    cluster: Cluster,
    defaults: DefaultImages,
    material: ValidatorMaterial | None,
    admin_key_hex: str,
) -> list[dict[str, Any]]:
    """Nothing when no replica runs; otherwise the Service and the StatefulSet."""
    count = replicas(material)
    if not count:
        return []
    return [headless_service(cluster), stateful_set(cluster, defaults, count, admin_key_hex)]
