"""Validator keys, incentive replicas' keys and the genesis, made once per cluster.

This is the one impure step of rendering (fresh randomness, the clock), kept out of the
builders: `ensure_material` makes keys only when their Secret does not exist yet; afterwards
the handler reads the Secrets and the genesis ConfigMap back and hands them to the builders
unchanged. The genesis registers the incentive replicas whose keys exist when it is made, so
their number is fixed with it: a genesis made before the incentive service (a cluster older
than it) registers none, and no replica's key is made for it afterwards.
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
    data = (secret or {}).get("data") or {}
    return {
        name.removesuffix(".pem"): base64.b64decode(value).decode() for name, value in data.items()
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
) -> ValidatorMaterial:
    """The keys in `secret` and `incentive_secret` and the genesis in `config_map` when they
    exist; what is missing is made: keys freshly (the incentive replicas' only while there is no
    genesis to leave them out of), the genesis from the keys (the Secrets are applied before the
    ConfigMap, so an operator stopped between them finds the keys and only remakes the genesis —
    before any validator could have started from it)."""
    genesis = ((config_map or {}).get("data") or {}).get("genesis.json")
    pems = _pems(secret) or {pod: _pem(Ed25519PrivateKey.generate()) for pod in pod_names(cluster)}
    meta = _pems(incentive_secret)
    if not meta and genesis is None:
        meta = {
            pod: _pem(Ed25519PrivateKey.generate())
            for pod in incentive.pod_names(cluster, cluster.incentive_replicas)
        }
    if genesis is None:
        public = [_public(_load(pems[pod])).hex() for pod in pod_names(cluster) if pod in pems]
        addresses = [address_of(_public(_load(meta[pod]))) for pod in _ordered(meta)]
        now = int(time.time() * 1000) if now_ms is None else now_ms
        genesis = genesis_text(genesis_document(cluster, public, now, addresses))
    return ValidatorMaterial(pems, genesis, meta)


def _load(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("a validator key is not an ed25519 key")
    return key
