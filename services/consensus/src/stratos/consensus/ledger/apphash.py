"""Canonical bytes and the app hash of a ledger state.

Every validator must hash the same state to the same 32 bytes, whatever its Python hash seed or
dict insertion order, and a block must cost O(its txs) however many accounts exist. So the state
is hashed in two parts:

- the *header*: chain id, height, time, last block hash, params, pools, the epoch book,
  validators and evidence
  (small, bounded by the validator set and the offences), flattened to key/value records sorted
  by key, each written length-prefixed with fixed-width big-endian integers;
- the accounts and the nodes, each a `table.HashedTable` whose root is kept incrementally
  (4096 buckets by BLAKE3 of the address; a block rehashes only the buckets it touched).

    app_hash = BLAKE3(MAGIC ‖ u32 len(header) ‖ header ‖ accounts.root ‖ nodes.root)

The header bytes are what the store keeps beside its per-account and per-node rows, so a state
read back hashes to the app hash it was saved under. `MAGIC` names this layout: v1 (one BLAKE3
over every record of the whole state) and v2 (before Proof-of-Traffic epochs, node debts and
their parameters) are gone, and a store or a chain made under them is refused.
"""

from __future__ import annotations

import struct
import weakref

from blake3 import blake3

from stratos.common.errors import DataLoss
from stratos.consensus.ledger.pricing import OzonePool
from stratos.consensus.ledger.state import (
    Account,
    EpochBook,
    LedgerState,
    NodeRecord,
    Params,
    Validator,
)
from stratos.consensus.ledger.table import HashedTable

MAGIC = b"stratos.state.v3\x00"  # bump when the layout changes: old headers then fail loudly
_U32 = struct.Struct(">I")


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")  # OverflowError on a negative or too-large value: a bug


def _blob(b: bytes) -> bytes:
    return _U32.pack(len(b)) + b


def _records(state: LedgerState) -> list[tuple[bytes, bytes]]:
    params = state.params
    recs = [
        (
            b"0meta",
            _blob(state.chain_id.encode())
            + _u64(state.height)
            + _u64(state.time_unix_ms)
            + _blob(state.last_block_hash),
        ),
        (b"1params", b"".join(_u64(getattr(params, n)) for n in Params.names())),
        (
            b"2pool",
            _u64(state.pool.deposits)
            + _u64(state.pool.prepaid)
            + _u64(state.pool.limit)
            + _u64(state.fee_pool),
        ),
        (
            b"3epochs",
            _u64(state.epochs.next_to_settle)
            + _u64(state.epochs.minted)
            + _u64(state.epochs.last_settled_height)
            + _blob(state.epochs.last_report_digest),
        ),
    ]
    for addr, v in state.validators.items():
        recs.append(
            (b"val/" + addr.encode(), _blob(v.public_key) + _u64(v.power) + _u64(v.deposit))
        )
    recs.extend((b"evid/" + h, b"") for h in state.evidence)
    recs.sort()
    return recs


def encode_header(state: LedgerState) -> bytes:
    """The canonical bytes of everything in `state` but its accounts and nodes."""
    out = [MAGIC]
    for key, value in _records(state):
        out.append(_blob(key))
        out.append(_blob(value))
    return b"".join(out)


# A state is an immutable value, so its hash is computed once (a block's apply, check and store
# each ask for it); entries go with their state.
_hashes: weakref.WeakKeyDictionary[LedgerState, bytes] = weakref.WeakKeyDictionary()


def app_hash(state: LedgerState) -> bytes:
    """The state's 32-byte hash (the module docstring gives the scheme): what block headers and
    the store carry."""
    h = _hashes.get(state)
    if h is None:
        header = encode_header(state)
        h = _hashes[state] = blake3(
            MAGIC + _blob(header) + state.accounts.root() + state.nodes.root()
        ).digest()
    return h


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DataLoss("the stored state header is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def blob(self) -> bytes:
        return self.take(_U32.unpack(self.take(4))[0])

    def done(self) -> bool:
        return self.pos == len(self.data)


def decode_header(
    data: bytes, accounts: HashedTable[Account], nodes: HashedTable[NodeRecord]
) -> LedgerState:
    """Inverse of `encode_header`, with the tables read separately; DataLoss if the bytes are
    not a header of this layout."""
    if not data.startswith(MAGIC):
        raise DataLoss(
            "the stored state has an unknown format (written by another version of the ledger?); "
            "start a new chain from an empty data directory (locally: 'stratos dev down --purge')"
        )
    r = _Reader(data[len(MAGIC) :])
    kw: dict = {"accounts": accounts, "nodes": nodes, "validators": {}, "evidence": set()}
    while not r.done():
        key, v = r.blob(), _Reader(r.blob())
        if key == b"0meta":
            kw["chain_id"] = v.blob().decode()
            kw["height"], kw["time_unix_ms"] = v.u64(), v.u64()
            kw["last_block_hash"] = v.blob()
        elif key == b"1params":
            kw["params"] = Params(**{n: v.u64() for n in Params.names()})
        elif key == b"2pool":
            kw["pool"] = OzonePool(v.u64(), v.u64(), v.u64())
            kw["fee_pool"] = v.u64()
        elif key == b"3epochs":
            kw["epochs"] = EpochBook(v.u64(), v.u64(), v.u64(), v.blob())
        elif key.startswith(b"val/"):
            kw["validators"][key[4:].decode()] = Validator(v.blob(), v.u64(), v.u64())
        elif key.startswith(b"evid/"):
            kw["evidence"].add(key[5:])
        else:
            raise DataLoss(f"the stored state header holds an unknown record {key[:16]!r}")
        if not v.done():
            raise DataLoss(f"the stored state header record {key[:16]!r} has trailing bytes")
    kw["evidence"] = frozenset(kw["evidence"])
    return LedgerState(**kw)
