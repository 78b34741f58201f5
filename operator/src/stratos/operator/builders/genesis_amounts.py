"""The STOS the operator's genesis gives the nodes it registers, and the supply rule it must meet.

The amounts are the chain's defaults (the consensus service's `ledger/state.Params`; the genesis
the operator writes sets no params, and the operator may not import a service — a unit test
keeps them in step). The supply rule is `Genesis.from_json`'s: every balance, deposit and ozone
prepay of the genesis together must fit in a uint64 of nstos, or every validator refuses the
file at start. The spec parser checks it (`spec.py`), so such a spec is refused with one
sentence instead.

This module is a leaf (it imports only `stratos.common`), so both the spec parser and the
genesis builder (`validators.py`) use it.
"""

from __future__ import annotations

from stratos.common.stos import parse_stos

# A storage node's bond: at least the chain's default `min_deposit_resource` (500 STOS), the
# same 1,000 STOS the local mesh's genesis gives its nodes. The resource deposits are
# what backs the ozone pool (S in the constant-product price): with none, a first prepay would
# buy the whole pool.
RESOURCE_DEPOSIT_STOS = "1000"
# An incentive replica's bond: the chain's default `min_deposit_meta`.
META_DEPOSIT_STOS = "1000"
# What an incentive replica pays its report fees from: 100,000 reports at the default fee.
META_FUNDS_STOS = "100"


def operator_supply_nstos(storage_nodes: int, meta_nodes: int) -> int:
    """What the operator itself puts in a genesis: the storage nodes' deposits (no balance:
    they earn, never pay fees) and each incentive replica's deposit and funds."""
    return storage_nodes * parse_stos(RESOURCE_DEPOSIT_STOS) + meta_nodes * (
        parse_stos(META_DEPOSIT_STOS) + parse_stos(META_FUNDS_STOS)
    )
