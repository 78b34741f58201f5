"""How a pod finds who it is and who is in its mesh: the files and settings the operator hands to
every storage node, index replica and validator (issue 11, parts 1, 3 and 5).

Each component has one identity Secret (`<cluster>-<component>-identity`) holding, per node,
its ed25519 identity key (`<node>.pem`) and its NATS user's credentials (`<node>.nk`),
mounted read-only with `secrets.secret_files` (0440). A pod picks its own files by its pod name
(`$(POD_NAME)`, expanded by the kubelet, as the validators pick their keys): a StatefulSet pod's
name is its node ID, `<cluster>-storage-<ordinal>`. The index replicas of a Deployment have no
stable names, so they share one meta identity, `<cluster>-index`.

The signed admission list is public: a ConfigMap (`<cluster>-admission`) mounted as a
directory, so the kubelet's atomic swap of its files reaches the running services
(`stratos.common.admission_source` re-reads it within a second of the swap). The admin's public
key is pinned in the environment (`STRATOS_ADMIN_KEY`): only a list it signed is believed.

This module is a leaf (meta and secrets only) so each component's builder can call it; the
objects themselves are made in `builders/trust.py`.
"""

from __future__ import annotations

from typing import Any

from stratos.operator.builders.meta import child_name
from stratos.operator.builders.secrets import secret_files
from stratos.operator.builders.spec import Cluster

IDENTITY_DIR = "/etc/stratos/identity"
ADMISSION_DIR = "/etc/stratos/admission"
ADMISSION_KEY = "admission.bin"
MESH_ID_MAX = 64  # stratos.common.admission_source.AdmissionSettings.mesh_id


def mesh_id(cluster: Cluster) -> str:
    """The mesh's name in its admission list."""
    return cluster.name[:MESH_ID_MAX]


def index_node_id(cluster: Cluster) -> str:
    """The meta identity every index replica of the cluster shares."""
    return child_name(cluster, "index")


def identity_secret_name(cluster: Cluster, component: str) -> str:
    return f"{child_name(cluster, component)}-identity"


def admission_name(cluster: Cluster) -> str:
    return f"{cluster.name}-admission"


def identity_volume(cluster: Cluster, component: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The component's identity Secret as 0440 files under IDENTITY_DIR."""
    return secret_files("identity", identity_secret_name(cluster, component), IDENTITY_DIR)


def admission_volume(cluster: Cluster) -> tuple[dict[str, Any], dict[str, Any]]:
    """The admission list ConfigMap as a directory (never `subPath`: a subPath mount is a copy
    the kubelet never refreshes, so a node would miss every later version)."""
    return (
        {"name": "admission", "configMap": {"name": admission_name(cluster)}},
        {"name": "admission", "mountPath": ADMISSION_DIR, "readOnly": True},
    )


def admission_env(cluster: Cluster, admin_public_hex: str) -> list[dict[str, Any]]:
    """What points a storage node or an index replica at its mesh's admission list."""
    return [
        {"name": "STRATOS_MESH_ID", "value": mesh_id(cluster)},
        {"name": "STRATOS_ADMIN_KEY", "value": admin_public_hex},
        {"name": "STRATOS_ADMISSION_FILE", "value": f"{ADMISSION_DIR}/{ADMISSION_KEY}"},
    ]


def identity_env(stem: str, key_variable: str | None) -> list[dict[str, Any]]:
    """The node's key (in `key_variable`: the index reads STRATOS_IDENTITY_FILE, a storage node
    STRATOS_NODE_KEY_FILE; None: no key here) and NATS credentials files. `stem` is its node ID,
    or `$(POD_NAME)` where the kubelet fills in the pod's own name (POD_NAME must be defined
    earlier in the list)."""
    env = [{"name": "STRATOS_NATS_NKEY_FILE", "value": f"{IDENTITY_DIR}/{stem}.nk"}]
    if key_variable:
        env.insert(0, {"name": key_variable, "value": f"{IDENTITY_DIR}/{stem}.pem"})
    return env
