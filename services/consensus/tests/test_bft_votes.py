"""Vote sets: checked intake, power tallies, equivocation evidence, and commit verification."""

from __future__ import annotations

import dataclasses

import pytest
from bft_sim import make_keys, make_validator_set

from stratos.consensus.bft.evidence import verify_evidence
from stratos.consensus.bft.messages import (
    NIL,
    Commit,
    InvalidMessage,
    VoteType,
    hash_block,
    sign_vote,
)
from stratos.consensus.bft.votes import HeightVoteSet, VoteSet, verify_commit

CHAIN = "test-chain"
KEYS = make_keys(4)
VS = make_validator_set(KEYS)
A, B = hash_block(b"a"), hash_block(b"b")


def vote(i: int, block_hash: bytes, vtype=VoteType.PREVOTE, height=1, round_=0):
    return sign_vote(KEYS[i], CHAIN, vtype, height, round_, block_hash)


def prevotes(validators=VS) -> VoteSet:
    return VoteSet(CHAIN, validators, 1, 0, VoteType.PREVOTE)


def test_quorum_for_a_block_needs_more_than_two_thirds() -> None:
    vs = prevotes()
    assert vs.add(vote(0, A)).added and vs.add(vote(1, A)).added
    assert vs.quorum_hash() is None and vs.has_skip_any() and not vs.has_quorum_any()
    vs.add(vote(2, A))
    assert vs.quorum_hash() == A and vs.power_for(A) == 3


def test_nil_is_a_value_and_any_counts_mixed_votes() -> None:
    vs = prevotes()
    for i, h in enumerate([NIL, NIL, A]):
        vs.add(vote(i, h))
    assert vs.quorum_hash() is None and vs.has_quorum_any()
    vs.add(vote(3, NIL))
    assert vs.quorum_hash() == NIL


def test_a_duplicate_counts_once() -> None:
    vs = prevotes()
    v = vote(0, A)
    assert vs.add(v).added and not vs.add(v).added
    assert vs.power_for(A) == 1 and len(vs) == 1


def test_bad_votes_are_refused_with_a_reason() -> None:
    vs = prevotes()
    outsider = sign_vote(make_keys(6, seed=5)[5], CHAIN, VoteType.PREVOTE, 1, 0, A)
    cases = [
        (dataclasses.replace(vote(0, A), signature=vote(1, A).signature), "bad signature"),
        (sign_vote(KEYS[0], "other-chain", VoteType.PREVOTE, 1, 0, A), "bad signature"),
        (outsider, "not a validator"),
        (vote(0, A, height=2), "does not belong"),
        (vote(0, A, round_=1), "does not belong"),
        (vote(0, A, vtype=VoteType.PRECOMMIT), "does not belong"),
    ]
    for bad, why in cases:
        with pytest.raises(InvalidMessage, match=why):
            vs.add(bad)
    assert len(vs) == 0
    with pytest.raises(InvalidMessage, match="height 2"):
        HeightVoteSet(CHAIN, VS, 1).add(vote(0, A, height=2))


def test_equivocation_yields_verifiable_evidence_once() -> None:
    vs = prevotes()
    vs.add(vote(3, A))
    result = vs.add(vote(3, B))
    assert result.evidence is not None
    assert verify_evidence(result.evidence, VS, CHAIN).address == vote(3, A).validator
    assert vs.add(vote(3, NIL)).evidence is None  # one conviction per validator and set
    assert len(vs) == 1  # "any" counts the equivocator once


def test_an_equivocators_second_vote_counts_only_where_others_support_it() -> None:
    """So validators that saw different first votes still see the honest quorum, while an
    equivocator cannot make us store votes for blocks nobody else voted for."""
    vs = prevotes()
    vs.add(vote(3, A))
    assert not vs.add(vote(3, B)).added  # nobody else voted B yet
    vs.add(vote(0, B))
    vs.add(vote(1, B))
    assert vs.quorum_hash() is None
    assert vs.add(vote(3, B)).added  # re-delivered by gossip, now supported
    assert vs.quorum_hash() == B and vs.power_for(A) == 1
    assert vs.add(vote(3, NIL)).added  # nil needs no support
    assert len(vs) == 3


def test_uneven_power_tallies() -> None:
    vs = prevotes(make_validator_set(KEYS, [1, 1, 1, 5]))  # total 8
    vs.add(vote(3, A))
    assert vs.has_skip_any() and not vs.has_quorum_any()  # 5 of 8: > 1/3, not > 2/3
    vs.add(vote(0, NIL))
    assert vs.quorum_hash() is None and vs.has_quorum_any()  # 6 of 8 voted, split
    vs.add(vote(1, A))
    assert vs.quorum_hash() == A  # 6 of 8 for A


def commit_of(signers, block_hash=A, round_=0) -> Commit:
    votes = tuple(vote(i, block_hash, VoteType.PRECOMMIT, 1, round_) for i in signers)
    return Commit(1, round_, block_hash, votes)


def test_a_commit_from_a_vote_set_verifies() -> None:
    vs = VoteSet(CHAIN, VS, 1, 0, VoteType.PRECOMMIT)
    for i in range(3):
        vs.add(vote(i, A, VoteType.PRECOMMIT))
    vs.add(vote(3, NIL, VoteType.PRECOMMIT))
    c = vs.commit_for(A)
    assert len(c.precommits) == 3
    verify_commit(c, VS, CHAIN)


def test_bad_commits_are_refused() -> None:
    two = commit_of([0, 1])
    doubled = commit_of([0, 1, 1])
    mixed = Commit(1, 0, A, (*commit_of([0, 1]).precommits, vote(2, A)))  # a prevote
    forged = Commit(
        1, 0, A, (*commit_of([0, 1]).precommits, dataclasses.replace(vote(2, A), signature=b"x"))
    )
    for bad, why in [
        (two, "not more than 2/3"),
        (doubled, "twice"),
        (mixed, "not a precommit"),
        (commit_of([0, 1, 2], NIL), "nil"),
    ]:
        with pytest.raises(InvalidMessage, match=why):
            verify_commit(bad, VS, CHAIN)
    forged_pc = dataclasses.replace(forged.precommits[2], type=VoteType.PRECOMMIT)
    with pytest.raises(InvalidMessage, match="bad signature"):
        verify_commit(Commit(1, 0, A, (*two.precommits, forged_pc)), VS, CHAIN)
