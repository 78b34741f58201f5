"""The bytes the node keeps for the engine: signed state and commits survive the Store's
round trip unchanged, and equivocation evidence in a Slash tx convicts exactly its signer."""

from __future__ import annotations

import pytest
from node_support import key, write_genesis

from stratos.common.errors import InvalidArgument
from stratos.consensus.bft.evidence import make_evidence
from stratos.consensus.bft.messages import Commit, VoteType, address_of, hash_block, sign_vote
from stratos.consensus.bft.types import SignedState, Step
from stratos.consensus.node.codec import (
    commit_from_bytes,
    commit_to_bytes,
    evidence_to_bytes,
    signed_state_from_row,
    signed_state_to_row,
    verify_evidence_bytes,
)
from stratos.consensus.node.store import Store

KEYS = [key(i + 1) for i in range(4)]


def test_signed_state_with_vote_and_lock_survives_the_store(tmp_path) -> None:
    vote = sign_vote(KEYS[0], "c", VoteType.PRECOMMIT, 7, 2, hash_block(b"blk"))
    s = SignedState(7, 2, Step.PRECOMMIT, vote.block_hash, vote, 2, b"blk", 2, b"blk")
    with Store(tmp_path / "s.sqlite") as store:
        store.save_signed_state(signed_state_to_row(s))
        assert signed_state_from_row(store.load_signed_state()) == s
    bare = SignedState(3, 0, Step.PROPOSE, hash_block(b"p"))
    assert signed_state_from_row(signed_state_to_row(bare)) == bare


def test_a_commit_round_trips_through_its_bytes() -> None:
    h = hash_block(b"blk")
    votes = tuple(sign_vote(k, "c", VoteType.PRECOMMIT, 5, 1, h) for k in KEYS[:3])
    c = Commit(5, 1, h, votes)
    assert commit_from_bytes(commit_to_bytes(c)) == c


def test_evidence_bytes_are_canonical_and_convict_the_double_signer(tmp_path) -> None:
    state = write_genesis(tmp_path / "g.json", KEYS).initial_state()
    chain = state.chain_id
    a = sign_vote(KEYS[2], chain, VoteType.PREVOTE, 4, 0, hash_block(b"x"))
    b = sign_vote(KEYS[2], chain, VoteType.PREVOTE, 4, 0, hash_block(b"y"))
    raw = evidence_to_bytes(make_evidence(a, b))
    assert raw == evidence_to_bytes(make_evidence(b, a))
    assert verify_evidence_bytes(raw, state) == address_of(KEYS[2].public_bytes)

    same = sign_vote(KEYS[2], chain, VoteType.PREVOTE, 4, 0, hash_block(b"x"))
    with pytest.raises(InvalidArgument, match="same block"):
        verify_evidence_bytes(evidence_to_bytes(make_evidence(a, same)), state)
    with pytest.raises(InvalidArgument, match="does not decode"):
        verify_evidence_bytes(b"\xff\xff", state)
