"""Validator keys, incentive replicas' keys and the genesis, made once per cluster.

This is the one impure step of rendering (fresh randomness, the clock), kept out of the
builders: `ensure_material` makes keys only when their Secret does not exist yet; afterwards
the handler reads the Secrets and the genesis ConfigMap back and hands them to the builders
unchanged. The genesis registers the incentive replicas whose keys exist when it is made, so
their number is fixed with it: a genesis made before the incentive service (a cluster older
than it) registers none, and no replica's key is made for it afterwards.

It also registers the storage nodes the cluster starts with (ordinals below
`spec.storage.replicas`) as resource nodes, under their identity keys: those the storage
identity Secret already holds, and for the others keys made here, with the genesis, which
`identities.ensure` then keeps as theirs (so a node never has two keys). Storage nodes added
after the genesis stay unregistered until they register themselves. A genesis that exists is
never rewritten, so a cluster made before this registers none.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.identity import address_of
from stratos.operator.builders import incentive
from stratos.operator.builders.spec import Cluster
from stratos.operator.builders.trust import storage_nodes
from stratos.operator.builders.validators import (
    ValidatorMaterial,
    genesis_document,
    genesis_text,
    pod_names,
)


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _pems(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The `<name>.pem` files of a Secret (an identity Secret also holds `<name>.nk` files)."""
    data = (secret or {}).get("data") or {}
    return {
        name.removesuffix(".pem"): base64.b64decode(value).decode()
        for name, value in data.items()
        if name.endswith(".pem")
    }


def _ordered(pems: Mapping[str, str]) -> list[str]:
    return sorted(pems, key=lambda pod: (len(pod), pod))  # -2 before -10


def ensure_material(
    cluster: Cluster,
    secret: Mapping[str, Any] | None,
    config_map: Mapping[str, Any] | None,
    now_ms: int | None = None,
    *,
    incentive_secret: Mapping[str, Any] | None = None,
    storage_secret: Mapping[str, Any] | None = None,
) -> ValidatorMaterial:
    """The keys in `secret` and `incentive_secret` and the genesis in `config_map` when they
    exist; what is missing is made: keys freshly (the incentive replicas' and the storage
    nodes' only while there is no genesis to leave them out of), the genesis from the keys (the
    Secrets, the storage identity Secret among them, are applied before the ConfigMap, so an
    operator stopped between them finds the keys and only remakes the genesis — before any
    validator could have started from it). `storage_secret` is the storage identity Secret."""
    genesis = ((config_map or {}).get("data") or {}).get("genesis.json")
    pems = _pems(secret) or {pod: _pem(Ed25519PrivateKey.generate()) for pod in pod_names(cluster)}
    meta = _pems(incentive_secret)
    storage: dict[str, str] = {}
    if genesis is None:
        if not meta:
            meta = {
                pod: _pem(Ed25519PrivateKey.generate())
                for pod in incentive.pod_names(cluster, cluster.incentive_replicas)
            }
        held = _pems(storage_secret)
        storage = {
            node: held.get(node) or _pem(Ed25519PrivateKey.generate())
            for node in storage_nodes(cluster, cluster.spec.storage.replicas)
        }
        public = [_public(_load(pems[pod])).hex() for pod in pod_names(cluster) if pod in pems]
        addresses = [address_of(_public(_load(meta[pod]))) for pod in _ordered(meta)]
        resource = [address_of(_public(_load(storage[node]))) for node in _ordered(storage)]
        now = int(time.time() * 1000) if now_ms is None else now_ms
        genesis = genesis_text(genesis_document(cluster, public, now, addresses, resource))
    return ValidatorMaterial(pems, genesis, meta, storage)


def _load(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("a validator, incentive or storage key is not an ed25519 key")
    return key
