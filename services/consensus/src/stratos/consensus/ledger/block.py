"""Blocks as the state machine sees them: the tx Merkle root, the block hash, building a proposal
and checking a block's header against the state it extends.

The consensus engine decides *which* block commits; this module decides whether a block can be
applied on top of a state at all, so a proposal that could never apply is refused before anyone
votes for it.
"""

from __future__ import annotations

from blake3 import blake3

from stratos.common.errors import InvalidArgument
from stratos.consensus.ledger.apphash import app_hash
from stratos.consensus.ledger.state import LedgerState
from stratos.v1 import ledger_pb2 as pb


class InvalidBlock(InvalidArgument):
    """A block that cannot follow the given state."""


def tx_root(txs: list[bytes]) -> bytes:
    """Binary Merkle root over the txs (RFC 6962 leaf/node prefixes, so no leaf is a node)."""
    level = [blake3(b"\x00" + tx).digest() for tx in txs]
    if not level:
        return blake3(b"").digest()
    while len(level) > 1:
        nxt = [
            blake3(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])  # an odd node is promoted, never paired with itself
        level = nxt
    return level[0]


def block_hash(header: pb.BlockHeader) -> bytes:
    """The block's identity: BLAKE3 of its header (the header commits to the txs via tx_root)."""
    return blake3(header.SerializeToString(deterministic=True)).digest()


def make_block(
    state: LedgerState, txs: list[bytes], *, time_unix_ms: int, proposer: str
) -> pb.Block:
    """A proposal extending `state` with `txs` (as reaped from the mempool)."""
    header = pb.BlockHeader(
        chain_id=state.chain_id,
        height=state.height + 1,
        time_unix_ms=time_unix_ms,
        prev_block_hash=state.last_block_hash,
        app_hash=app_hash(state),
        proposer=proposer,
        tx_root=tx_root(list(txs)),
    )
    return pb.Block(header=header, txs=txs)


def validate_block(state: LedgerState, block: pb.Block) -> None:
    """Raise InvalidBlock with a sentence unless `block` can be applied on top of `state`."""
    h = block.header
    if h.chain_id != state.chain_id:
        raise InvalidBlock(f"the block is for chain {h.chain_id!r}, not {state.chain_id!r}")
    if h.height != state.height + 1:
        raise InvalidBlock(
            f"the block has height {h.height}; the next height is {state.height + 1}"
        )
    if h.prev_block_hash != state.last_block_hash:
        raise InvalidBlock(f"block {h.height} does not extend the last committed block")
    if h.app_hash != app_hash(state):
        raise InvalidBlock(f"block {h.height} carries an app hash that differs from this state's")
    earliest = state.time_unix_ms if state.height == 0 else state.time_unix_ms + 1
    if h.time_unix_ms < earliest:
        raise InvalidBlock(f"block {h.height} has time {h.time_unix_ms}, before {earliest}")
    if h.proposer not in state.validators:
        raise InvalidBlock(f"block {h.height} is proposed by {h.proposer!r}, not a validator")
    params = state.params
    if len(block.txs) > params.max_block_txs:
        raise InvalidBlock(
            f"block {h.height} has {len(block.txs)} txs; at most {params.max_block_txs}"
        )
    size = sum(len(tx) for tx in block.txs)
    if size > params.max_block_bytes:
        raise InvalidBlock(
            f"block {h.height} has {size} bytes of txs; at most {params.max_block_bytes}"
        )
    if h.tx_root != tx_root(list(block.txs)):
        raise InvalidBlock(f"block {h.height} has a tx root that does not match its txs")
