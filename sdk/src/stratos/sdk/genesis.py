"""The local chain's genesis file: built from plain values (pure), written once, never rewritten.

The format is the consensus service's (`Genesis.from_json` there is the authority; a test parses
what this module builds with it): amounts are decimal STOS strings, public keys hex, unknown keys
refused, and a missing `params` object means the chain's defaults.

    {"chain_id": "stratos-local", "genesis_time_unix_ms": 1700000000000,
     "accounts": [{"address": "<40 hex>", "balance": "1000000"}],
     "validators": [{"public_key": "<64 hex>", "power": 10, "deposit": "1000"}]}

Every validator starts from this file, so changing it after the chain has run would fork the chain
from its own data: `write_genesis` refuses to replace an existing file, and `check_genesis` tells
whether an existing one was made for the given validator keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratos.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from stratos.common.files import create_private_dirs, fsync_dir
from stratos.common.stos import NSTOS_PER_STOS, format_stos, is_address

LOCAL_CHAIN_ID = "stratos-local"
LOCAL_VALIDATOR_POWER = 10
LOCAL_VALIDATOR_DEPOSIT_NSTOS = 1_000 * NSTOS_PER_STOS
LOCAL_FAUCET_NSTOS = 1_000_000 * NSTOS_PER_STOS  # what the local user's default wallet starts with
LOCAL_NODE_DEPOSIT_NSTOS = 1_000 * NSTOS_PER_STOS  # each storage node's and meta node's deposit
LOCAL_META_FUNDS_NSTOS = 100 * NSTOS_PER_STOS  # what a meta node pays its report fees from
LOCAL_OZONE_PREPAID_NSTOS = 100 * NSTOS_PER_STOS  # ozone the local user's wallet starts with
# Blocks per Proof-of-Traffic epoch on the local chain (a block a second): rewards show up in
# well under a minute instead of the default 100 blocks.
LOCAL_EPOCH_BLOCKS = 20


@dataclass(frozen=True)
class GenesisValidator:
    public_key: bytes  # raw ed25519, 32 bytes
    power: int = LOCAL_VALIDATOR_POWER
    deposit_nstos: int = LOCAL_VALIDATOR_DEPOSIT_NSTOS


def build_genesis(
    *,
    chain_id: str,
    genesis_time_unix_ms: int,
    accounts: Sequence[tuple[str, int]],
    validators: Sequence[GenesisValidator],
    params: Mapping[str, Any] | None = None,
    nodes: Sequence[tuple[str, str, int]] = (),
    ozone: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    """The genesis document (a JSON-ready dict). `accounts` are (address, balance in nstos);
    `params` are passed through as given (amount parameters as STOS strings); `nodes` are
    (address, "resource" | "meta", deposit in nstos) registered at genesis; `ozone` is
    (address, nstos) prepaid for ozone at genesis."""
    if not validators:
        raise InvalidArgument("a genesis needs at least one validator")
    seen: set[str] = set()
    for address, balance in accounts:
        if not is_address(address):
            raise InvalidArgument(f"genesis account {address!r} is not an address")
        if address in seen:
            raise InvalidArgument(f"genesis lists the account {address} twice")
        if balance < 0:
            raise InvalidArgument(f"genesis account {address} has a negative balance")
        seen.add(address)
    for v in validators:
        if len(v.public_key) != 32 or v.power < 1:
            raise InvalidArgument("a genesis validator needs a 32-byte public key and power ≥ 1")
    doc: dict[str, Any] = {
        "chain_id": chain_id,
        "genesis_time_unix_ms": int(genesis_time_unix_ms),
        "accounts": [{"address": a, "balance": format_stos(b)} for a, b in accounts],
        "validators": [
            {
                "public_key": v.public_key.hex(),
                "power": v.power,
                "deposit": format_stos(v.deposit_nstos),
            }
            for v in validators
        ],
    }
    if params:
        doc["params"] = dict(params)
    if nodes:
        doc["nodes"] = [
            {"address": a, "role": role, "deposit": format_stos(d)} for a, role, d in nodes
        ]
    if ozone:
        doc["ozone"] = [{"address": a, "prepaid": format_stos(x)} for a, x in ozone]
    return doc


def local_genesis(
    validator_keys: Sequence[bytes],
    faucet_address: str,
    genesis_time_unix_ms: int,
    *,
    resource_nodes: Sequence[str] = (),
    meta_nodes: Sequence[str] = (),
) -> dict[str, Any]:
    """The local mesh's genesis: its validators (power 10, a deposit each); the local user's
    default wallet funded with 1,000,000 STOS and 100 STOS of ozone prepaid; its storage nodes
    (`resource_nodes`) and incentive replicas (`meta_nodes`, funded for their report fees)
    registered with 1,000 STOS deposits; epochs of 20 blocks; the chain's other defaults."""
    accounts = [(faucet_address, LOCAL_FAUCET_NSTOS)]
    accounts += [(a, LOCAL_META_FUNDS_NSTOS) for a in meta_nodes if a != faucet_address]
    return build_genesis(
        chain_id=LOCAL_CHAIN_ID,
        genesis_time_unix_ms=genesis_time_unix_ms,
        accounts=accounts,
        validators=[GenesisValidator(k) for k in validator_keys],
        params={"epoch_blocks": LOCAL_EPOCH_BLOCKS},
        nodes=[(a, "resource", LOCAL_NODE_DEPOSIT_NSTOS) for a in resource_nodes]
        + [(a, "meta", LOCAL_NODE_DEPOSIT_NSTOS) for a in meta_nodes],
        # with no resource deposit backing the pool (S = 0) a first prepay would buy all of it
        ozone=[(faucet_address, LOCAL_OZONE_PREPAID_NSTOS)] if resource_nodes else [],
    )


def genesis_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def write_genesis(path: Path, doc: Mapping[str, Any]) -> None:
    """Create `path` with `doc`; an existing file is never replaced (AlreadyExists)."""
    create_private_dirs(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(genesis_json(doc))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # atomic, and fails rather than replacing an existing genesis
    except FileExistsError:
        raise AlreadyExists(
            f"{path} already exists; a chain's genesis is never rewritten"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def genesis_validator_keys(path: Path) -> list[bytes]:
    """The validators' public keys in an existing genesis file."""
    try:
        doc = json.loads(path.read_text())
        return [bytes.fromhex(v["public_key"]) for v in doc["validators"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise FailedPrecondition(
            f"{path} is not a readable genesis; remove it (or 'stratos dev down --purge') "
            "to start a new local chain"
        ) from None


def check_genesis(path: Path, validator_keys: Sequence[bytes]) -> None:
    """An existing genesis must name exactly these validators, in this order."""
    have = genesis_validator_keys(path)
    if have == list(validator_keys):
        return
    raise FailedPrecondition(
        f"the local chain's genesis ({path}) has {len(have)} validator"
        f"{'' if len(have) == 1 else 's'} and a chain's validator set is fixed at genesis, so it "
        f"cannot run {len(validator_keys)}; use --validators {len(have)}, or start a new chain "
        "with 'stratos dev down --purge'"
    )
