"""Where a tx is, as one validator knows it: committed (the store's tx index, so it survives a
restart), pending (the mempool), dropped (the mempool's memory of txs that stopped applying) or
unknown. The answer behind `GetTx`, a plain function of the store and the pool so the servicer
only translates and tests call it directly."""

from __future__ import annotations

from stratos.consensus.ledger.mempool import Mempool
from stratos.consensus.node.store import Store
from stratos.v1 import consensus_pb2

TxState = consensus_pb2.TxState


def lookup_tx(
    store: Store, mempool: Mempool, hash_hex: str, latest_height: int
) -> consensus_pb2.GetTxResponse:
    """The tx's state here. Call it on the node's loop, where blocks commit: a block then
    commits either wholly before or wholly after the lookup (store and pool agree)."""
    resp = consensus_pb2.GetTxResponse(tx_hash=hash_hex, latest_height=latest_height)
    committed = store.committed_tx(hash_hex)
    if committed is not None:
        resp.state = TxState.TX_STATE_COMMITTED
        resp.height, resp.index, resp.tx = committed.height, committed.index, committed.raw
        resp.result.CopyFrom(committed.result)
        return resp
    raw = mempool.get(hash_hex)
    if raw is not None:
        resp.state, resp.tx = TxState.TX_STATE_PENDING, raw
        return resp
    dropped = mempool.dropped(hash_hex)
    if dropped is not None:
        resp.state, resp.height = TxState.TX_STATE_DROPPED, dropped.height
        resp.result.CopyFrom(dropped.result)
        return resp
    resp.state = TxState.TX_STATE_UNKNOWN
    return resp
