"""The mempool: entry checks against committed state plus pending txs, dedup, bounded size,
reaping in nonce order, and cleanup after a committed block."""

from __future__ import annotations

import pytest
from ledger_support import ALICE, BOB, CAROL, STOS, VAL, Chain, addr, genesis, transfer

from stratos.common.errors import AlreadyExists, ResourceExhausted
from stratos.consensus.ledger.apply import apply_block
from stratos.consensus.ledger.mempool import Mempool, TxRefused
from stratos.consensus.ledger.tx import TxCode, tx_hash


def test_a_duplicate_is_refused() -> None:
    c = Chain()
    pool = Mempool(c.state)
    raw = c.tx(ALICE, **transfer(BOB, 1))
    assert pool.add(raw) == tx_hash(raw)
    with pytest.raises(AlreadyExists, match="already waiting"):
        pool.add(raw)
    assert len(pool) == 1


def test_pending_txs_of_a_sender_are_checked_in_nonce_order() -> None:
    c = Chain()
    pool = Mempool(c.state)
    pool.add(c.tx(ALICE, nonce=0, **transfer(BOB, 1)))
    pool.add(c.tx(ALICE, nonce=1, **transfer(BOB, 1)))
    with pytest.raises(TxRefused, match="expected 2, got 5") as err:
        pool.add(c.tx(ALICE, nonce=5, **transfer(BOB, 1)))
    assert err.value.code == TxCode.BAD_NONCE
    with pytest.raises(TxRefused, match="expected 2, got 1"):
        pool.add(c.tx(ALICE, nonce=1, **transfer(CAROL, 1)))  # a second tx for a used nonce


def test_funds_already_spent_by_pending_txs_count() -> None:
    c = Chain()
    pool = Mempool(c.state)
    pool.add(c.tx(ALICE, nonce=0, **transfer(BOB, 9_000 * STOS)))
    with pytest.raises(TxRefused, match="insufficient funds") as err:
        pool.add(c.tx(ALICE, nonce=1, **transfer(BOB, 1_000 * STOS)))
    assert err.value.code == TxCode.INSUFFICIENT_FUNDS


def test_a_full_mempool_says_so() -> None:
    c = Chain()
    pool = Mempool(c.state, max_txs=2)
    pool.add(c.tx(ALICE, **transfer(BOB, 1)))
    pool.add(c.tx(ALICE, **transfer(BOB, 1)))
    with pytest.raises(ResourceExhausted, match="the mempool is full"):
        pool.add(c.tx(BOB, **transfer(ALICE, 1)))


def test_reap_keeps_nonce_order_and_respects_limits() -> None:
    c = Chain()
    pool = Mempool(c.state)
    a0, b0, a1, b1 = (
        c.tx(ALICE, **transfer(CAROL, 1)),
        c.tx(BOB, **transfer(CAROL, 1)),
        c.tx(ALICE, **transfer(CAROL, 2)),
        c.tx(BOB, **transfer(CAROL, 2)),
    )
    for raw in (a0, b0, a1, b1):
        pool.add(raw)
    assert pool.reap() == [a0, b0, a1, b1]
    assert pool.reap(max_txs=3) == [a0, b0, a1]
    assert pool.reap(max_bytes=len(a0) + len(b0)) == [a0, b0]
    assert len(pool) == 4  # reaping does not remove


def test_reap_is_a_prefix_so_no_tx_loses_what_it_depends_on() -> None:
    c = Chain()
    pool = Mempool(c.state)
    a0 = c.tx(ALICE, **transfer(CAROL, 5 * STOS))  # funds CAROL ...
    big = c.tx(BOB, fee=10**12, **transfer(ALICE, 5 * STOS))  # longer varints: a bigger tx
    c0 = c.tx(CAROL, **transfer(BOB, STOS))  # ... who spends them here
    for raw in (a0, big, c0):
        pool.add(raw)
    assert len(big) > len(c0)
    # Room for a0 and c0 but not for big: c0 must not jump ahead (a0 and big stay in order too).
    reaped = pool.reap(max_bytes=len(a0) + len(c0))
    assert reaped == [a0]
    assert [r.code for r in Chain(c.state).commit(pool.reap())] == [TxCode.OK] * 3


def test_update_drops_included_and_now_invalid_txs() -> None:
    c = Chain()
    pool = Mempool(c.state)
    mine = c.tx(ALICE, nonce=0, **transfer(BOB, 1))
    next_one = c.tx(ALICE, nonce=1, **transfer(BOB, 1))
    pool.add(mine)
    pool.add(next_one)
    # Another node's block spent ALICE's nonce 0 on a different tx: our nonce-0 and the pending
    # nonce-1 (its nonce still fits) behave differently.
    rival = c.tx(ALICE, nonce=0, **transfer(CAROL, 1))
    new_state, _, _ = apply_block(c.state, c.block([rival]))
    dropped = pool.update(new_state, c.block([rival]))
    assert dropped == [tx_hash(mine)]
    assert tx_hash(next_one) in pool
    assert pool.reap() == [next_one]

    final, _, _ = apply_block(new_state, Chain(new_state).block([next_one]))
    assert pool.update(final, Chain(new_state).block([next_one])) == []
    assert len(pool) == 0
    assert pool.size_bytes == 0
    assert final.accounts[addr(ALICE)].nonce == 2


def test_next_nonce_counts_the_senders_pending_txs() -> None:
    """What GetAccount answers as pending_nonce: a sender's next tx must carry it to enter."""
    c = Chain()
    pool = Mempool(c.state)
    assert pool.next_nonce(addr(ALICE)) == 0
    assert pool.next_nonce("00" * 20) == 0  # never seen
    pool.add(c.tx(ALICE, nonce=0, **transfer(BOB, 1)))
    pool.add(c.tx(ALICE, nonce=1, **transfer(BOB, 1)))
    pool.add(c.tx(BOB, nonce=0, **transfer(ALICE, 1)))
    assert pool.next_nonce(addr(ALICE)) == 2
    assert pool.next_nonce(addr(BOB)) == 1
    pool.add(c.tx(ALICE, nonce=pool.next_nonce(addr(ALICE)), **transfer(BOB, 1)))  # admitted
    assert pool.next_nonce(addr(ALICE)) == 3

    # One of ALICE's txs commits: the committed nonce moves, the pending one stays.
    first = pool.reap()[:1]
    new_state, _, _ = apply_block(c.state, c.block(first))
    pool.update(new_state, c.block(first))
    assert new_state.accounts[addr(ALICE)].nonce == 1
    assert pool.next_nonce(addr(ALICE)) == 3


def test_a_dropped_tx_is_remembered_with_its_reason_until_it_applies_again() -> None:
    """GetTx answers "dropped, and why" for a tx that left the pool without committing."""
    c = Chain()
    pool = Mempool(c.state)
    b0 = c.tx(BOB, nonce=0, **transfer(CAROL, 1))
    b1 = c.tx(BOB, nonce=1, **transfer(CAROL, 5_000 * STOS))
    pool.add(b0)
    pool.add(b1)
    assert pool.get(tx_hash(b0)) == b0 and pool.dropped(tx_hash(b0)) is None
    # Another validator's block spends BOB's nonce 0 and most of his funds.
    rival = c.tx(BOB, nonce=0, **transfer(ALICE, 9_000 * STOS))
    block = c.block([rival])
    state, _, _ = apply_block(c.state, block)
    assert pool.update(state, block) == [tx_hash(b0), tx_hash(b1)]
    assert pool.get(tx_hash(b0)) is None and len(pool) == 0
    gone = pool.dropped(tx_hash(b0))
    assert gone.height == 1 and gone.result.code == TxCode.BAD_NONCE
    assert "wrong nonce: expected 1, got 0" in gone.result.log
    assert pool.dropped(tx_hash(b1)).result.code == TxCode.INSUFFICIENT_FUNDS

    # Funds arrive: b1 applies again, enters the pool and is no longer "dropped".
    later = Chain(state)
    block = later.block([later.tx(ALICE, **transfer(BOB, 5_000 * STOS))])
    state, _, _ = apply_block(state, block)
    pool.update(state, block)
    pool.add(b1)
    assert pool.dropped(tx_hash(b1)) is None and pool.get(tx_hash(b1)) == b1


def test_the_memory_of_dropped_txs_is_bounded(monkeypatch) -> None:
    import stratos.consensus.ledger.mempool as mp

    monkeypatch.setattr(mp, "DROPPED_REMEMBERED", 2)
    c = Chain(genesis(alice=10 * STOS, bob=10 * STOS, carol=10 * STOS).initial_state())
    pool = Mempool(c.state)
    mine = [c.tx(who, nonce=0, **transfer(VAL, 1)) for who in (ALICE, BOB, CAROL)]
    for raw in mine:
        pool.add(raw)
    block = c.block([c.tx(who, nonce=0, **transfer(VAL, 2)) for who in (ALICE, BOB, CAROL)])
    state, _, _ = apply_block(c.state, block)
    assert len(pool.update(state, block)) == 3
    assert [pool.dropped(tx_hash(raw)) is not None for raw in mine] == [False, True, True]
