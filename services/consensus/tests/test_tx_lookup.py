"""`GetTx`'s answer on one validator: committed (from the store's index), pending (in the
mempool), dropped (the mempool's memory, with why) or unknown."""

from __future__ import annotations

from pathlib import Path

from ledger_support import ALICE, BOB, CAROL, STOS, Chain, transfer

from stratos.consensus.ledger.apply import apply_block
from stratos.consensus.ledger.mempool import Mempool
from stratos.consensus.ledger.tx import TxCode, tx_hash
from stratos.consensus.node.store import Store
from stratos.consensus.node.tx_lookup import TxState, lookup_tx


def test_a_tx_is_committed_pending_dropped_or_unknown(tmp_path: Path) -> None:
    c = Chain()
    pool = Mempool(c.state)
    done = c.tx(ALICE, nonce=0, **transfer(BOB, STOS))
    waiting = c.tx(ALICE, nonce=1, **transfer(BOB, STOS))
    loser = c.tx(BOB, nonce=0, **transfer(CAROL, STOS))
    with Store(tmp_path / "chain.db") as store:
        store.save_genesis(c.state)
        for raw in (done, waiting, loser):
            pool.add(raw)
        block = c.block([done, c.tx(BOB, nonce=0, **transfer(ALICE, STOS))])
        state, results, _ = apply_block(c.state, block)
        store.commit_block(block, b"", results, state)
        pool.update(state, block)

        got = lookup_tx(store, pool, tx_hash(done), state.height)
        assert got.state == TxState.TX_STATE_COMMITTED and got.latest_height == 1
        assert (got.height, got.index, got.tx, got.result.code) == (1, 0, done, 0)

        got = lookup_tx(store, pool, tx_hash(waiting), state.height)
        assert got.state == TxState.TX_STATE_PENDING and got.tx == waiting and got.height == 0

        got = lookup_tx(store, pool, tx_hash(loser), state.height)
        assert got.state == TxState.TX_STATE_DROPPED and got.height == 1
        assert got.result.code == TxCode.BAD_NONCE and "wrong nonce" in got.result.log

        got = lookup_tx(store, pool, "ab" * 32, state.height)
        assert got.state == TxState.TX_STATE_UNKNOWN and got.tx == b"" and got.tx_hash == "ab" * 32
