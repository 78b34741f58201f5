"""The mesh admin key, the nodes' identity keys, their NATS users and the signed admission list:
made once per cluster and kept, the list re-signed only when the nodes change.

Like `keys.py` for the validators, this is an impure step kept out of the builders (fresh
randomness, the signing time): `observe` reads what the API server holds; `ensure_admin` and
`ensure` keep every key and seed found there and make only what is missing — the admin key on a
cluster's first pass, a key and a NATS user for each storage ordinal the first time it runs.
The storage ordinals a cluster with validators starts with are the exception: their keys are
made with the genesis that registers them (`keys.ensure_material`), and `ensure` takes those.
A key is never made again for a node that has one, so a pod that restarts, or an ordinal that
is scaled away and back, is the same node. The list (`stratos.common.mesh_admin.next_list`)
keeps its version while the admitted nodes stay the same and goes one version up when they
change; the newest of the ConfigMap and the admin Secret's copy is the current one.

Bring your own admin key: create the Secret `<cluster>-mesh-admin` with `admin.pem` before the
cluster, and the operator signs with it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import nkeys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.admission import AdmissionRefused, open_list
from stratos.common.identity import Identity
from stratos.common.mesh_admin import next_list
from stratos.operator.builders import incentive, validators
from stratos.operator.builders.identity_files import (
    ADMISSION_KEY,
    admission_name,
    identity_secret_name,
    index_node_id,
    mesh_id,
)
from stratos.operator.builders.spec import Cluster
from stratos.operator.builders.trust import (
    ADMIN_LIST_COPY,
    ADMIN_PEM,
    TrustMaterial,
    admin_secret_name,
    members,
    private_key,
    public_key,
    storage_nodes,
)
from stratos.operator.kube import Kube

Obj = Mapping[str, Any] | None


@dataclass(frozen=True)
class Held:
    """The trust objects as the API server holds them (None: not there)."""

    admin: Obj = None
    index: Obj = None
    storage: Obj = None
    validator: Obj = None
    incentive: Obj = None
    admission: Obj = None


async def observe(kube: Kube, cluster: Cluster) -> Held:
    ns = cluster.namespace
    return Held(
        admin=await kube.get("v1", "Secret", ns, admin_secret_name(cluster)),
        index=await kube.get("v1", "Secret", ns, identity_secret_name(cluster, "index")),
        storage=await kube.get("v1", "Secret", ns, identity_secret_name(cluster, "storage")),
        validator=await kube.get(
            "v1", "Secret", ns, identity_secret_name(cluster, validators.COMPONENT)
        ),
        incentive=await kube.get(
            "v1", "Secret", ns, identity_secret_name(cluster, incentive.COMPONENT)
        ),
        admission=await kube.get("v1", "ConfigMap", ns, admission_name(cluster)),
    )


def _new_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _new_seed() -> str:
    return nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()


def _files(obj: Obj, field: str = "data") -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in ((obj or {}).get(field) or {}).items()}


def _seed_of(text: str) -> str:
    """The seed line of a credentials file (`stratos.common.nats_auth.credentials_text`)."""
    return next((ln.strip() for ln in text.splitlines() if ln.strip()[:1] not in ("", "#")), "")


def ensure_admin(held: Held) -> str:
    """The admin key (PEM) in the admin Secret, or a new one on the cluster's first pass."""
    pem = _files(held.admin).get(ADMIN_PEM)
    if pem:
        private_key(pem.decode())  # a Secret someone filled with something else fails here
        return pem.decode()
    return _new_pem()


def admin_identity(pem: str) -> Identity:
    return Identity(private_key(pem))


def _current_list(cluster: Cluster, held: Held, admin_key: bytes) -> bytes | None:
    """The newest list this admin signed for this mesh, of the ConfigMap and the copy."""
    found: list[tuple[int, bytes]] = []
    for raw in (
        _files(held.admission, "binaryData").get(ADMISSION_KEY),
        _files(held.admin).get(ADMIN_LIST_COPY),
    ):
        if not raw:
            continue
        try:
            found.append((open_list(raw, admin_key, mesh_id(cluster)).version, raw))
        except AdmissionRefused:
            continue
    return max(found)[1] if found else None


def ensure(
    cluster: Cluster,
    held: Held,
    admin_pem: str,
    *,
    storage_replicas: int,
    validator_material: validators.ValidatorMaterial | None,
) -> TrustMaterial:
    """Everything the trust builders need for a cluster running `storage_replicas` storage
    nodes now; see the module docstring for what is kept and what is made."""
    keys: dict[str, str] = {}
    seeds: dict[str, str] = {}
    for obj in (held.index, held.storage, held.validator, held.incentive):
        for name, value in _files(obj).items():
            if name.endswith(".pem"):
                keys[name.removesuffix(".pem")] = value.decode()
            elif name.endswith(".nk"):
                seeds[name.removesuffix(".nk")] = _seed_of(value.decode())
    # the storage keys the genesis of this pass registered were made with it (`keys.py`): they
    # are these nodes' keys, so none is made again for them
    for node, pem in (validator_material.storage_keys_pem if validator_material else {}).items():
        keys.setdefault(node, pem)
    for node in (index_node_id(cluster), *storage_nodes(cluster, storage_replicas)):
        if node not in keys:
            keys[node] = _new_pem()
    meta_keys = dict(validator_material.incentive_keys_pem) if validator_material else {}
    meta_nodes = incentive.pod_names(cluster, len(meta_keys))
    for node in (*keys, *validators.pod_names(cluster), *meta_nodes):
        if not seeds.get(node):
            seeds[node] = _new_seed()
    material = TrustMaterial(
        admin_pem=admin_pem,
        keys_pem=keys,
        nats_seeds=seeds,
        admission=b"",
        storage_replicas=storage_replicas,
        validator_keys=dict(validator_material.keys_pem) if validator_material else {},
        incentive_keys=meta_keys,
    )
    admin = admin_identity(admin_pem)
    current = _current_list(cluster, held, public_key(admin_pem))
    signed = next_list(current, admin, mesh_id(cluster), members(cluster, material))
    admission = signed if signed is not None else current
    assert admission is not None  # next_list signs one whenever there is none
    return replace(material, admission=admission)
