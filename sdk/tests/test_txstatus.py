"""The pure rules behind `send` and `stratos tx`: the next nonce across validators whose
mempools differ, where to submit, one status from many answers, and what a pending tx's
sender is told."""

from __future__ import annotations

import pytest

from stratos.common.errors import InvalidArgument
from stratos.sdk.txstatus import (
    COMMITTED,
    DROPPED,
    PENDING,
    UNKNOWN,
    NonceView,
    TxStatus,
    check_tx_hash,
    next_nonce,
    pending_sentence,
    submit_order,
    summarize,
)
from stratos.v1 import consensus_pb2 as cpb

H = "ab" * 32


def test_the_next_nonce_is_the_largest_any_validator_knows():
    """A validator whose mempool has not yet seen a relayed tx reports less: its word would
    reuse the pending tx's nonce ("wrong nonce", or two txs racing for one nonce)."""
    views = [NonceView("v1", 2, 2), NonceView("v2", 2, 4), NonceView("v3", 1, 3)]
    assert next_nonce(views) == 4
    assert submit_order(views) == ["v2", "v3", "v1"]  # the one holding every predecessor first
    assert next_nonce([NonceView("old", 5, 0)]) == 5  # a server without pending_nonce
    assert submit_order([NonceView("a", 0, 0), NonceView("b", 0, 0)]) == ["a", "b"]
    with pytest.raises(ValueError):
        next_nonce([])


def _answer(state, **kw) -> cpb.GetTxResponse:
    return cpb.GetTxResponse(tx_hash=H, state=state, **kw)


def test_one_status_from_every_validators_answer():
    pending = _answer(cpb.TX_STATE_PENDING, tx=b"raw", latest_height=7)
    unknown = _answer(cpb.TX_STATE_UNKNOWN, latest_height=8)
    s = summarize(H, [("v1", None), ("v2", unknown), ("v3", pending), ("v4", pending)])
    assert s.state == PENDING and s.pending_on == ("v3", "v4") and s.raw == b"raw"
    assert s.unreachable == ("v1",) and s.answered == ("v2", "v3", "v4") and s.latest_height == 8

    committed = _answer(cpb.TX_STATE_COMMITTED, height=6, index=2, tx=b"raw", latest_height=8)
    committed.result.code, committed.result.log = 0, "sent"
    s = summarize(H, [("v1", pending), ("v2", committed)])  # one history: committed wins
    assert (s.state, s.height, s.index, s.code, s.log) == (COMMITTED, 6, 2, 0, "sent")
    assert s.applied

    dropped = _answer(cpb.TX_STATE_DROPPED, height=9)
    dropped.result.code, dropped.result.log = 6, "wrong nonce: expected 4, got 3"
    s = summarize(H, [("v1", unknown), ("v2", dropped)])
    assert (s.state, s.height, s.code) == (DROPPED, 9, 6) and not s.applied
    assert summarize(H, [("v1", pending), ("v2", dropped)]).state == PENDING

    s = summarize(H, [("v1", unknown), ("v2", None)])
    assert s.state == UNKNOWN and s.unreachable == ("v2",) and s.to_dict()["tx"] is None


def test_what_the_sender_of_a_pending_tx_is_told():
    st = TxStatus(H, PENDING, pending_on=("v3", "v4"), latest_height=10)
    names = {"v3": "validator-3", "v4": "validator-4"}.get
    line = pending_sentence(st, 15, from_height=10, name=names)
    assert line == (
        f"submitted as tx {H}, not yet committed after 15 s: no block has committed since (are "
        "enough validators up? see 'stratos chain status'); it is pending on validator-3, "
        f"validator-4 and may still commit — follow it with 'stratos tx {H} --wait'"
    )
    moved = pending_sentence(st, 15, from_height=8)
    assert "blocks committed up to height 10 without it" in moved
    assert "not yet committed: it waits for a block" in pending_sentence(st, 0, from_height=10)
    gone = TxStatus(H, UNKNOWN, unreachable=("v1",), latest_height=10)
    line = pending_sentence(gone, 15, from_height=10)
    assert "no validator that answered holds it now" in line and "1 did not answer" in line
    assert f"check 'stratos tx {H}' before sending again" in line


def test_tx_hashes_are_checked_with_one_sentence():
    assert check_tx_hash(f"  {H.upper()}\n") == H
    for bad in ("", "xyz", H[:-1], H + "a", "0x" + H[2:], "g" * 64):
        with pytest.raises(InvalidArgument, match="is not a tx hash; a tx hash is 64 hex"):
            check_tx_hash(bad)
