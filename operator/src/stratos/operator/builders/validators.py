"""Consensus validators: a keys Secret, a genesis ConfigMap, a headless Service (peers find each
other by pod DNS), a client Service and a StatefulSet with one block store per validator.

Both the keys and the genesis are made once and never rewritten — a chain started from one
genesis forks from its own data if the file changes — so the builders take them as inputs
(`ValidatorMaterial`) and stay pure; `keys.py` makes them, and the handler reuses what exists.
The incentive replicas' keys are made with them (`builders/incentive.py`): the genesis registers
each replica's address as a bonded meta node and funds it for its report fees. It also registers
the storage nodes the cluster starts with as resource nodes, under the identity keys their pods
load (`<cluster>-storage-identity`, made with the genesis when it is made, `keys.py`); their
deposits back the ozone pool, which the genesis accounts' optional ozone prepays buy from.
Each pod picks its own key by pod name (`$(POD_NAME).pem`) and lists every validator as a peer;
the consensus service drops its own address from that list.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stratos.operator.builders import tls
from stratos.operator.builders.genesis_amounts import (
    META_DEPOSIT_STOS,
    META_FUNDS_STOS,
    RESOURCE_DEPOSIT_STOS,
)
from stratos.operator.builders.identity_files import identity_env, identity_volume
from stratos.operator.builders.meta import (
    CLAIM_RETENTION,
    PORT_CONSENSUS,
    DefaultImages,
    child_name,
    common_env,
    container_security_context,
    grpc_probes,
    image,
    labels,
    metadata,
    nats_url,
    pod_name_env,
    pod_security_context,
    pvc_template,
    selector_labels,
    tmp_volume,
)
from stratos.operator.builders.secrets import secret_files
from stratos.operator.builders.spec import Cluster

COMPONENT = "validator"
VALIDATOR_POWER = 10
KEYS_DIR = "/etc/stratos/keys"
GENESIS_DIR = "/etc/stratos/genesis"


@dataclass(frozen=True)
class ValidatorMaterial:
    """Made once per cluster: PEM private key per validator pod name, the genesis JSON text,
    PEM private key per incentive pod name (the meta nodes that genesis registers), and — only
    in the pass that makes the genesis — PEM identity key per storage node it registers as a
    resource node (afterwards they are read from the storage identity Secret, which
    `identities.ensure` fills from this first)."""

    keys_pem: Mapping[str, str]
    genesis_json: str
    incentive_keys_pem: Mapping[str, str] = field(default_factory=dict)
    storage_keys_pem: Mapping[str, str] = field(default_factory=dict)


def pod_names(cluster: Cluster) -> list[str]:
    base = child_name(cluster, COMPONENT)
    return [f"{base}-{i}" for i in range(cluster.spec.validators.replicas)]


def keys_secret_name(cluster: Cluster) -> str:
    return f"{child_name(cluster, COMPONENT)}-keys"


def genesis_name(cluster: Cluster) -> str:
    return f"{cluster.name}-genesis"


def genesis_document(
    cluster: Cluster,
    public_keys_hex: list[str],
    genesis_time_unix_ms: int,
    meta_addresses: Sequence[str] = (),
    resource_addresses: Sequence[str] = (),
) -> dict[str, Any]:
    """The genesis in the consensus service's format (its `Genesis.from_json` is the authority;
    a unit test parses this with it). `resource_addresses` (the storage nodes the cluster starts
    with) are registered as resource nodes with the minimum deposit and no balance: they earn,
    and their deposits back the ozone pool. `meta_addresses` (the incentive replicas') are
    registered as meta nodes and funded for their report fees. The genesis accounts' ozone
    prepays come last, bought in the order listed at the price those deposits set, as the local
    mesh's genesis does it (`stratos.sdk.genesis.local_genesis`)."""
    accounts = cluster.spec.validators.genesis_accounts
    doc: dict[str, Any] = {
        "chain_id": cluster.chain_id,
        "genesis_time_unix_ms": genesis_time_unix_ms,
        "accounts": [{"address": a.address, "balance": a.balance} for a in accounts]
        + [{"address": a, "balance": META_FUNDS_STOS} for a in meta_addresses],
        "validators": [
            {"public_key": key, "power": VALIDATOR_POWER, "deposit": "0"} for key in public_keys_hex
        ],
    }
    nodes = [
        {"address": a, "role": "resource", "deposit": RESOURCE_DEPOSIT_STOS}
        for a in resource_addresses
    ] + [{"address": a, "role": "meta", "deposit": META_DEPOSIT_STOS} for a in meta_addresses]
    if nodes:
        doc["nodes"] = nodes
    if ozone := [{"address": a.address, "prepaid": a.ozone} for a in accounts if a.ozone]:
        doc["ozone"] = ozone
    return doc


def genesis_text(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def immutable_keys_secret(
    cluster: Cluster, component: str, name: str, pems: Mapping[str, str]
) -> dict[str, Any]:
    """Keys made once (pod name → PEM) as an immutable Secret: `<pod>.pem` each."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(cluster, component, name),
        "type": "Opaque",
        "immutable": True,
        # `data`, not `stringData`: server-side apply then compares like with like
        "data": {
            f"{pod}.pem": base64.b64encode(pem.encode()).decode()
            for pod, pem in sorted(pems.items())
        },
    }


def keys_secret(cluster: Cluster, material: ValidatorMaterial) -> dict[str, Any]:
    return immutable_keys_secret(cluster, COMPONENT, keys_secret_name(cluster), material.keys_pem)


def genesis_config_map(cluster: Cluster, material: ValidatorMaterial) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(cluster, COMPONENT, genesis_name(cluster)),
        "immutable": True,
        "data": {"genesis.json": material.genesis_json},
    }


def headless_service(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "clusterIP": "None",
            # peers must connect before any validator can be ready (no quorum alone)
            "publishNotReadyAddresses": True,
            "selector": selector_labels(cluster, COMPONENT),
            "ports": [{"name": "grpc", "port": PORT_CONSENSUS, "targetPort": "grpc"}],
        },
    }


def client_service(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, COMPONENT, child_name(cluster, "consensus")),
        "spec": {
            "selector": selector_labels(cluster, COMPONENT),
            "ports": [{"name": "grpc", "port": PORT_CONSENSUS, "targetPort": "grpc"}],
        },
    }


def peers(cluster: Cluster) -> str:
    svc = f"{child_name(cluster, COMPONENT)}.{cluster.namespace}.svc"
    return ",".join(f"{pod}.{svc}:{PORT_CONSENSUS}" for pod in pod_names(cluster))


def stateful_set(cluster: Cluster, defaults: DefaultImages) -> dict[str, Any]:
    spec = cluster.spec.validators
    name = child_name(cluster, COMPONENT)
    tmp, tmp_mount = tmp_volume()
    keys, keys_mount = secret_files("keys", keys_secret_name(cluster), KEYS_DIR)
    nats_user, nats_user_mount = identity_volume(cluster, COMPONENT)  # its NATS user
    container = {
        "name": "validator",
        "image": image(cluster, defaults, "consensus"),
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "env": [
            *pod_name_env(),
            {"name": "STRATOS_GRPC_ADDRESS", "value": f"0.0.0.0:{PORT_CONSENSUS}"},
            {
                "name": "STRATOS_ADVERTISE_ADDRESS",
                "value": f"$(POD_NAME).{name}.$(POD_NAMESPACE).svc:{PORT_CONSENSUS}",
            },
            {"name": "STRATOS_PEERS", "value": peers(cluster)},
            {"name": "STRATOS_DATA_DIR", "value": "/data"},
            {"name": "STRATOS_GENESIS_FILE", "value": f"{GENESIS_DIR}/genesis.json"},
            {"name": "STRATOS_VALIDATOR_KEY_FILE", "value": f"{KEYS_DIR}/$(POD_NAME).pem"},
            {"name": "STRATOS_NATS_URL", "value": nats_url(cluster)},
            *identity_env("$(POD_NAME)", None),
            *common_env(cluster, "consensus"),
            *tls.env(PORT_CONSENSUS),
        ],
        "ports": [
            {"name": "grpc", "containerPort": PORT_CONSENSUS},
            {"name": "health", "containerPort": tls.health_port(PORT_CONSENSUS)},
        ],
        **grpc_probes(tls.health_port(PORT_CONSENSUS)),
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            keys_mount,
            nats_user_mount,
            {"name": "genesis", "mountPath": GENESIS_DIR, "readOnly": True},
            tmp_mount,
            tls.mount(),
        ],
        "securityContext": container_security_context(),
        "resources": spec.resources.manifest(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "serviceName": name,
            "replicas": spec.replicas,
            "podManagementPolicy": "Parallel",
            "persistentVolumeClaimRetentionPolicy": CLAIM_RETENTION,
            "selector": {"matchLabels": selector_labels(cluster, COMPONENT)},
            "template": {
                "metadata": {"labels": labels(cluster, COMPONENT)},
                "spec": {
                    "securityContext": pod_security_context(),
                    "automountServiceAccountToken": False,  # it never calls the API server
                    "containers": [container],
                    "volumes": [
                        keys,
                        nats_user,
                        {"name": "genesis", "configMap": {"name": genesis_name(cluster)}},
                        tmp,
                        tls.volume(cluster, COMPONENT),
                    ],
                },
            },
            "volumeClaimTemplates": [
                pvc_template("data", spec.storage_size, spec.storage_class_name)
            ],
        },
    }


def build(
    cluster: Cluster, defaults: DefaultImages, material: ValidatorMaterial | None
) -> list[dict[str, Any]]:
    """Nothing when the cluster runs no validators; otherwise `material` is required."""
    if cluster.spec.validators.replicas == 0:
        return []
    if material is None:
        raise ValueError("validators need their keys and genesis (ValidatorMaterial)")
    return [
        keys_secret(cluster, material),
        genesis_config_map(cluster, material),
        headless_service(cluster),
        client_service(cluster),
        stateful_set(cluster, defaults),
    ]
