"""Validator keys and genesis, made once per cluster.

This is the one impure step of rendering (fresh randomness, the clock), kept out of the
builders: `ensure_material` makes keys only when the keys Secret does not exist yet; afterwards
the handler reads the Secret and the genesis ConfigMap back and hands them to the builders
unchanged.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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


def _public_hex(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )


def ensure_material(
    cluster: Cluster,
    secret: Mapping[str, Any] | None,
    config_map: Mapping[str, Any] | None,
    now_ms: int | None = None,
) -> ValidatorMaterial:
    """The keys in `secret` and the genesis in `config_map` when they exist; what is missing is
    made: keys freshly, the genesis from the keys (the Secret is applied before the ConfigMap, so
    an operator stopped between the two finds the keys and only remakes the genesis — before any
    validator could have started from it)."""
    data = (secret or {}).get("data") or {}
    if data:
        pems = {
            name.removesuffix(".pem"): base64.b64decode(value).decode()
            for name, value in data.items()
        }
    else:
        pems = {pod: _pem(Ed25519PrivateKey.generate()) for pod in pod_names(cluster)}
    genesis = ((config_map or {}).get("data") or {}).get("genesis.json")
    if genesis is None:
        public = [_public_hex(_load(pems[pod])) for pod in pod_names(cluster) if pod in pems]
        now = int(time.time() * 1000) if now_ms is None else now_ms
        genesis = genesis_text(genesis_document(cluster, public, now))
    return ValidatorMaterial(pems, genesis)


def _load(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("a validator key is not an ed25519 key")
    return key
