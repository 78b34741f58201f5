"""The trust objects of a cluster: the mesh admin's Secret, one identity Secret per component,
the signed admission list and the NATS users (issue 11, parts 1, 3 and 5).

Keys are randomness and the list carries a signing time, so they are made by the one impure
step (`stratos.operator.identities`) and handed in as `TrustMaterial`; everything here is pure.
Who is admitted is decided here (`members`): the index's shared meta identity, the storage
nodes that run now (ordinals below the replicas the scale-down plan allows), the validators and
the incentive replicas (as incentive nodes, under the keys the genesis registered).
The NATS users come from the same table the local mesh uses (`stratos.common.nats_roles`): one
per storage node (it publishes only its own subjects), one for the index, one per validator,
one per incentive replica (role `incentive`: the traffic stream and the reports bucket).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nkeys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.admission import Member
from stratos.common.nats_auth import NatsUser, credentials_text
from stratos.common.nats_roles import Role, permissions, user_label
from stratos.operator.builders import incentive, storage, validators
from stratos.operator.builders.identity_files import (
    ADMISSION_KEY,
    admission_name,
    identity_secret_name,
    index_node_id,
)
from stratos.operator.builders.meta import metadata
from stratos.operator.builders.spec import Cluster
from stratos.v1 import auth_pb2

ADMIN_PEM = "admin.pem"
# the admin Secret keeps a copy of the list, so a deleted ConfigMap comes back with the next
# version (a fresh version 1 would be refused by every node holding a newer one)
ADMIN_LIST_COPY = ADMISSION_KEY


@dataclass(frozen=True)
class TrustMaterial:
    """Made once and kept (keys, seeds), or made when membership changes (the list)."""

    admin_pem: str
    keys_pem: Mapping[str, str]  # node ID -> its ed25519 key (the index's, every storage ordinal)
    nats_seeds: Mapping[str, str]  # node ID -> its NATS user's NKey seed (validators too)
    admission: bytes  # the signed list for the nodes that run now
    storage_replicas: int  # the storage ordinals that run now
    validator_keys: Mapping[str, str] = field(default_factory=dict)  # pod -> PEM (keys.py's)
    incentive_keys: Mapping[str, str] = field(default_factory=dict)  # pod -> PEM (keys.py's)

    @property
    def admin_public_hex(self) -> str:
        return public_key(self.admin_pem).hex()


def admin_secret_name(cluster: Cluster) -> str:
    return f"{cluster.name}-mesh-admin"


def private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("an identity key is not an ed25519 key")
    return key


def public_key(pem: str) -> bytes:
    return (
        private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def storage_nodes(cluster: Cluster, replicas: int) -> list[str]:
    return [storage.node_id(cluster, i) for i in range(replicas)]


def members(cluster: Cluster, material: TrustMaterial) -> list[Member]:
    """Who the admission list names: exactly the nodes that run now, under their own keys."""
    index = index_node_id(cluster)
    found = [Member(index, auth_pb2.MESH_ROLE_META, public_key(material.keys_pem[index]))]
    found += [
        Member(node, auth_pb2.MESH_ROLE_STORAGE, public_key(material.keys_pem[node]))
        for node in storage_nodes(cluster, material.storage_replicas)
    ]
    found += [
        Member(pod, auth_pb2.MESH_ROLE_VALIDATOR, public_key(pem))
        for pod, pem in sorted(material.validator_keys.items())
    ]
    found += [
        Member(pod, auth_pb2.MESH_ROLE_INCENTIVE, public_key(material.incentive_keys[pod]))
        for pod in incentive_nodes(cluster, material)
    ]
    return found


def incentive_nodes(cluster: Cluster, material: TrustMaterial) -> list[str]:
    """The incentive replicas that run: one per key made with the genesis."""
    return incentive.pod_names(cluster, len(material.incentive_keys))


def _role_of(cluster: Cluster, node: str) -> tuple[Role, str]:
    if node == index_node_id(cluster):
        return Role.INDEX, ""
    if node in validators.pod_names(cluster):
        return Role.VALIDATOR, node
    if incentive.is_pod(cluster, node):
        return Role.INCENTIVE, node
    return Role.STORAGE, node


def nats_user(cluster: Cluster, node: str, seed: str) -> NatsUser:
    role, name = _role_of(cluster, node)
    return NatsUser(
        label=user_label(role, name),
        role=role,
        public_key=nkeys.from_seed(bytearray(seed.encode())).public_key.decode(),
        permissions=permissions(role, name),
        seed=seed,
    )


def nats_nodes(cluster: Cluster, material: TrustMaterial) -> list[str]:
    """The nodes with a NATS user now: the index, the running storage nodes, the validators,
    the incentive replicas."""
    return [
        index_node_id(cluster),
        *storage_nodes(cluster, material.storage_replicas),
        *validators.pod_names(cluster),
        *incentive_nodes(cluster, material),
    ]


def nats_users(cluster: Cluster, material: TrustMaterial) -> list[NatsUser]:
    """The users the NATS servers admit (public keys and permissions only)."""
    return [
        nats_user(cluster, node, material.nats_seeds[node])
        for node in nats_nodes(cluster, material)
    ]


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def _secret(cluster: Cluster, component: str, name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(cluster, component, name),
        "type": "Opaque",
        # `data`, not `stringData`: server-side apply then compares like with like
        "data": {key: _b64(value) for key, value in sorted(data.items())},
    }


def identity_secret(
    cluster: Cluster,
    component: str,
    nodes: list[str],
    material: TrustMaterial,
    *,
    keys: bool = True,
) -> dict[str, Any]:
    """`<node>.pem` (when `keys`) and `<node>.nk` for each of `nodes`."""
    data: dict[str, str] = {}
    for node in nodes:
        if keys:
            data[f"{node}.pem"] = material.keys_pem[node]
        data[f"{node}.nk"] = credentials_text(nats_user(cluster, node, material.nats_seeds[node]))
    return _secret(cluster, component, identity_secret_name(cluster, component), data)


def build(cluster: Cluster, material: TrustMaterial) -> list[dict[str, Any]]:
    """The admin Secret (mounted nowhere: only the operator signs), the identity Secrets, and
    the admission list ConfigMap. Storage keys of ordinals scaled away stay in their Secret, so
    a node that comes back is the same node; the list names only the ordinals that run."""
    storage_keys = sorted(
        (n for n in material.keys_pem if n != index_node_id(cluster)),
        key=lambda n: (len(n), n),
    )
    objects = [
        _secret(
            cluster,
            "admin",
            admin_secret_name(cluster),
            {ADMIN_PEM: material.admin_pem, ADMIN_LIST_COPY: material.admission},
        ),
        identity_secret(cluster, "index", [index_node_id(cluster)], material),
        identity_secret(cluster, storage.COMPONENT, storage_keys, material),
    ]
    if cluster.spec.validators.replicas:
        objects.append(
            identity_secret(
                cluster, validators.COMPONENT, validators.pod_names(cluster), material, keys=False
            )
        )
    if nodes := incentive_nodes(cluster, material):  # keys: `<cluster>-incentive-keys`
        objects.append(identity_secret(cluster, incentive.COMPONENT, nodes, material, keys=False))
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(cluster, "admission", admission_name(cluster)),
            "binaryData": {ADMISSION_KEY: _b64(material.admission)},
        }
    )
    return objects
