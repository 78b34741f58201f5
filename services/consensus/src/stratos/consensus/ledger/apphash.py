"""Canonical bytes and the app hash of a ledger state.

Every validator must hash the same state to the same 32 bytes, whatever its Python hash seed or
dict insertion order. The state is flattened to key/value records, sorted by key, each written
length-prefixed with fixed-width big-endian integers; the app hash is BLAKE3 of those bytes. The
same bytes are the store's snapshot, so a snapshot read back hashes to the app hash it was
saved under.
"""

from __future__ import annotations

import struct
import weakref

from blake3 import blake3

from stratos.common.errors import DataLoss
from stratos.consensus.ledger.pricing import OzonePool
from stratos.consensus.ledger.state import Account, LedgerState, NodeRecord, Params, Validator

MAGIC = b"stratos.state.v1\x00"  # bump when the layout changes: old snapshots then fail loudly
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
    ]
    for addr, a in state.accounts.items():
        recs.append((b"acct/" + addr.encode(), _u64(a.balance) + _u64(a.nonce) + _u64(a.ozone)))
    for addr, n in state.nodes.items():
        recs.append(
            (
                b"node/" + addr.encode(),
                _u64(n.role) + _u64(n.deposit) + _u64(n.unbonding_until_height),
            )
        )
    for addr, v in state.validators.items():
        recs.append(
            (b"val/" + addr.encode(), _blob(v.public_key) + _u64(v.power) + _u64(v.deposit))
        )
    recs.extend((b"evid/" + h, b"") for h in state.evidence)
    recs.sort()
    return recs


def encode_state(state: LedgerState) -> bytes:
    """The canonical bytes of `state`."""
    out = [MAGIC]
    for key, value in _records(state):
        out.append(_blob(key))
        out.append(_blob(value))
    return b"".join(out)


# A state is an immutable value, so its hash is computed once (a block's apply, check and store
# each ask for it); entries go with their state.
_hashes: weakref.WeakKeyDictionary[LedgerState, bytes] = weakref.WeakKeyDictionary()


def app_hash(state: LedgerState) -> bytes:
    """BLAKE3 of `encode_state(state)`: what block headers and the store carry."""
    h = _hashes.get(state)
    if h is None:
        h = _hashes[state] = blake3(encode_state(state)).digest()
    return h


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DataLoss("the state snapshot is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def blob(self) -> bytes:
        return self.take(_U32.unpack(self.take(4))[0])

    def done(self) -> bool:
        return self.pos == len(self.data)


def decode_state(data: bytes) -> LedgerState:
    """Inverse of `encode_state`; DataLoss if the bytes are not a snapshot of this layout."""
    if not data.startswith(MAGIC):
        raise DataLoss("the state snapshot has an unknown format")
    r = _Reader(data[len(MAGIC) :])
    kw: dict = {"accounts": {}, "nodes": {}, "validators": {}, "evidence": set()}
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
        elif key.startswith(b"acct/"):
            kw["accounts"][key[5:].decode()] = Account(v.u64(), v.u64(), v.u64())
        elif key.startswith(b"node/"):
            kw["nodes"][key[5:].decode()] = NodeRecord(v.u64(), v.u64(), v.u64())
        elif key.startswith(b"val/"):
            kw["validators"][key[4:].decode()] = Validator(v.blob(), v.u64(), v.u64())
        elif key.startswith(b"evid/"):
            kw["evidence"].add(key[5:])
        else:
            raise DataLoss(f"the state snapshot holds an unknown record {key[:16]!r}")
        if not v.done():
            raise DataLoss(f"the state snapshot record {key[:16]!r} has trailing bytes")
    kw["evidence"] = frozenset(kw["evidence"])
    return LedgerState(**kw)
