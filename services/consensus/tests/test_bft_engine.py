"""The engine driven event by event: the paper's rules, persistence before broadcast, the
double-sign guard across restarts, block sync, and refusal of bad input."""

from __future__ import annotations

import pytest
from bft_sim import make_keys, make_validator_set

from stratos.consensus.bft.engine import Engine
from stratos.consensus.bft.evidence import make_evidence
from stratos.consensus.bft.messages import (
    NIL,
    Commit,
    CommittedBlock,
    Proposal,
    Vote,
    VoteType,
    hash_block,
    sign_proposal,
    sign_vote,
)
from stratos.consensus.bft.types import (
    Action,
    Broadcast,
    Decide,
    Persist,
    Rejected,
    ReportEvidence,
    ScheduleTimeout,
    Step,
    TimeoutConfig,
)
from stratos.consensus.bft.votes import verify_commit

CHAIN = "test-chain"
KEYS = make_keys(4)
VS = make_validator_set(KEYS)
T = TimeoutConfig(propose=1.0, prevote=1.0, precommit=1.0, delta=0.5)
X, Y, Z = b"blk-x", b"blk-y", b"blk-z"
PRE, COM = VoteType.PREVOTE, VoteType.PRECOMMIT


def index_of(address: str) -> int:
    return next(i for i, k in enumerate(KEYS) if VS.get(address).public_key == k.public_bytes)


def proposer(height: int, round_: int) -> int:
    return index_of(VS.proposer(height, round_).address)


def others(*exclude: int) -> list[int]:
    return [i for i in range(4) if i not in exclude]


def make_engine(i: int | None, height: int = 1, state=None, valid=lambda b: True, value=Z):
    key = KEYS[i] if i is not None else None
    return Engine(VS, key, CHAIN, height, T, lambda: value, valid, signed_state=state)


def proposal(block: bytes, height: int = 1, round_: int = 0, pol: int = -1) -> Proposal:
    return sign_proposal(KEYS[proposer(height, round_)], CHAIN, height, round_, pol, block)


def vote(i: int, vtype: VoteType, block: bytes | None, height: int = 1, round_: int = 0):
    return sign_vote(KEYS[i], CHAIN, vtype, height, round_, hash_block(block) if block else NIL)


def feed(e: Engine, *msgs) -> list[Action]:
    acts: list[Action] = []
    for m in msgs:
        acts += e.on_message(m)
    return acts


def sent_votes(acts: list[Action]) -> list[Vote]:
    return [a.message for a in acts if isinstance(a, Broadcast) and isinstance(a.message, Vote)]


def assert_persist_before_broadcast(acts: list[Action]) -> None:
    for k, a in enumerate(acts):
        if isinstance(a, Broadcast) and isinstance(a.message, Vote | Proposal):
            before = acts[k - 1]
            assert isinstance(before, Persist), f"{a} not preceded by Persist"
            m = a.message
            assert (before.state.height, before.state.round) == (m.height, m.round)
            if isinstance(m, Vote):
                assert before.state.vote == m


# A validator that is not the proposer of rounds 0 and 1 at height 1.
ME = next(i for i in range(4) if i not in (proposer(1, 0), proposer(1, 1)))
P0 = proposer(1, 0)


def test_a_single_validator_decides_alone_then_waits_for_start() -> None:
    key = KEYS[0]
    solo = make_validator_set([key])
    e = Engine(solo, key, CHAIN, 1, T, lambda: b"solo-block", lambda b: True)
    acts = e.start()
    assert_persist_before_broadcast(acts)
    decides = [a for a in acts if isinstance(a, Decide)]
    assert [d.height for d in decides] == [1] and decides[0].block == b"solo-block"
    verify_commit(decides[0].commit, solo, CHAIN)
    assert e.height == 2 and isinstance(acts[-1], Decide)  # nothing for height 2 yet
    acts2 = e.start()
    assert [d.height for d in acts2 if isinstance(d, Decide)] == [2]


def test_happy_path_prevote_lock_precommit_decide() -> None:
    e = make_engine(ME)
    e.start()
    acts = feed(e, proposal(X))
    assert [(v.type, v.block_hash) for v in sent_votes(acts)] == [(PRE, hash_block(X))]
    acts = feed(e, *(vote(j, PRE, X) for j in others(ME)[:2]))
    assert_persist_before_broadcast(acts)
    assert [(v.type, v.block_hash) for v in sent_votes(acts)] == [(COM, hash_block(X))]
    assert (e.locked_round, e.locked_block, e.valid_round) == (0, X, 0)
    assert e.last_signed.locked_block == X  # the lock is in the persisted state
    acts = feed(e, *(vote(j, COM, X) for j in others(ME)[:2]))
    [d] = [a for a in acts if isinstance(a, Decide)]
    assert (d.height, d.block, len(d.commit.precommits)) == (1, X, 3)
    verify_commit(d.commit, VS, CHAIN)
    assert (e.height, e.round, e.locked_round) == (2, 0, -1)


def test_an_invalid_block_gets_a_nil_prevote() -> None:
    e = make_engine(ME, valid=lambda b: b != X)
    e.start()
    assert [v.block_hash for v in sent_votes(feed(e, proposal(X)))] == [NIL]


def test_timeouts_drive_nil_rounds_and_grow_with_the_round() -> None:
    e = make_engine(ME)
    acts = e.start()
    assert ScheduleTimeout(Step.PROPOSE, 1, 0, 1.0) in acts
    acts = e.on_timeout(Step.PROPOSE, 1, 0)
    assert [(v.type, v.block_hash) for v in sent_votes(acts)] == [(PRE, NIL)]
    acts = feed(e, vote(others(ME)[0], PRE, X))
    assert ScheduleTimeout(Step.PREVOTE, 1, 0, 1.0) not in acts
    acts = feed(e, vote(others(ME)[1], PRE, None))
    assert ScheduleTimeout(Step.PREVOTE, 1, 0, 1.0) in acts  # 2f+1 prevotes of any kind
    acts = e.on_timeout(Step.PREVOTE, 1, 0)
    assert [(v.type, v.block_hash) for v in sent_votes(acts)] == [(COM, NIL)]
    acts = feed(e, *(vote(j, COM, None) for j in others(ME)[:2]))
    assert ScheduleTimeout(Step.PRECOMMIT, 1, 0, 1.0) in acts
    acts = e.on_timeout(Step.PRECOMMIT, 1, 0)
    assert e.round == 1 and ScheduleTimeout(Step.PROPOSE, 1, 1, 1.5) in acts
    assert e.on_timeout(Step.PROPOSE, 1, 0) == []  # a timer of a round already left


def test_a_nil_polka_precommits_nil_at_once() -> None:
    e = make_engine(ME)
    e.start()
    e.on_timeout(Step.PROPOSE, 1, 0)
    acts = feed(e, *(vote(j, PRE, None) for j in others(ME)[:2]))
    assert [(v.type, v.block_hash) for v in sent_votes(acts)] == [(COM, NIL)]


def test_f_plus_one_messages_of_a_later_round_skip_to_it() -> None:
    e = make_engine(ME)
    e.start()
    a, b = others(ME)[:2]
    assert feed(e, vote(a, PRE, None, round_=5)) == [] and e.round == 0
    acts = feed(e, vote(b, COM, None, round_=7))
    assert e.round == 5 and ScheduleTimeout(Step.PROPOSE, 1, 5, 1.0 + 5 * 0.5) in acts


def test_a_restarted_validator_never_signs_a_conflicting_vote() -> None:
    e = make_engine(ME)
    e.start()
    [persist] = [a for a in feed(e, proposal(X)) if isinstance(a, Persist)]
    first = persist.state.vote
    # Restarted from what it persisted, it sees a different proposal for the same round
    # (the proposer equivocated) and must not prevote it.
    again = make_engine(ME, state=persist.state)
    assert again.round == 0
    again.start()
    acts = feed(again, proposal(Y))
    assert sent_votes(acts) == [] and not any(isinstance(a, Persist) for a in acts)
    assert any(isinstance(a, Rejected) and "refused to sign" in a.reason for a in acts)
    assert again.step == Step.PREVOTE  # it moves on without signing
    assert sent_votes(again.on_timeout(Step.PROPOSE, 1, 0)) == []
    # The same vote again is no equivocation: the identical bytes go out.
    same = make_engine(ME, state=persist.state)
    same.start()
    assert sent_votes(feed(same, proposal(X))) == [first]
    assert first in [b.message for b in same.gossip()]


def test_a_restarted_validator_keeps_its_lock() -> None:
    e = make_engine(ME)
    e.start()
    acts = feed(e, proposal(X), *(vote(j, PRE, X) for j in others(ME)[:2]))
    state = [a for a in acts if isinstance(a, Persist)][-1].state
    assert (state.step, state.locked_round, state.locked_block) == (Step.PRECOMMIT, 0, X)
    restarted, fresh = make_engine(ME, state=state), make_engine(ME)
    for eng in (restarted, fresh):
        eng.start()
        feed(eng, *(vote(j, PRE, None, round_=1) for j in others(ME)[:2]))  # skip to round 1
        assert eng.round == 1
    prevote_of = {
        eng: [v.block_hash for v in sent_votes(feed(eng, proposal(Y, round_=1))) if v.type == PRE]
        for eng in (restarted, fresh)
    }
    assert prevote_of == {restarted: [NIL], fresh: [hash_block(Y)]}


def test_a_locked_proposer_re_proposes_its_valid_value_with_its_proof() -> None:
    later = next(r for r in range(1, 50) if proposer(1, r) == ME)
    e = make_engine(ME)
    e.start()
    feed(e, proposal(X), *(vote(j, PRE, X) for j in others(ME)[:2]))
    acts = feed(e, *(vote(j, PRE, None, round_=later) for j in others(ME)[:2]))
    [p] = [a.message for a in acts if isinstance(a, Broadcast) and isinstance(a.message, Proposal)]
    assert (p.round, p.block, p.pol_round) == (later, X, 0)
    assert_persist_before_broadcast(acts)


def test_a_proof_of_lock_unlocks_a_validator_locked_earlier() -> None:
    """Line 28: a value re-proposed with 2f+1 prevotes from a round at or after the lock."""
    e = make_engine(ME)
    e.start()
    feed(e, proposal(X), *(vote(j, PRE, X) for j in others(ME)[:2]))  # locked on X at round 0
    feed(e, *(vote(j, PRE, Y, round_=1) for j in others(ME)))  # a polka for Y in round 1
    r = next(r for r in range(2, 50) if proposer(1, r) != ME)
    feed(e, *(vote(j, PRE, None, round_=r) for j in others(ME)[:2]))
    assert e.round == r and e.locked_round == 0
    reproposal = proposal(Y, round_=r, pol=1)
    assert [v.block_hash for v in sent_votes(feed(e, reproposal))] == [hash_block(Y)]


def test_an_observer_decides_but_never_signs() -> None:
    e = make_engine(None)
    acts = e.start()
    acts += feed(e, proposal(X), *(vote(j, PRE, X) for j in range(3)))
    acts += feed(e, *(vote(j, COM, X) for j in range(3)))
    assert [a.height for a in acts if isinstance(a, Decide)] == [1]
    assert not any(isinstance(a, Persist | Broadcast) for a in acts)


def test_bad_input_is_rejected_without_effect() -> None:
    e = make_engine(ME)
    e.start()
    wrong_proposer = sign_proposal(KEYS[ME], CHAIN, 1, 0, -1, X)
    good = proposal(X)
    bad_hash = Proposal(1, 0, -1, Y, good.block_hash, good.proposer, good.signature)
    forged = Vote(PRE, 1, 0, NIL, vote(P0, PRE, None).validator, b"\x00" * 64)
    for bad, why in [
        (wrong_proposer, "not"),
        (bad_hash, "does not match"),
        (forged, "bad signature"),
    ]:
        [r] = feed(e, bad)
        assert isinstance(r, Rejected) and why in r.reason
    assert e.step == Step.PROPOSE and not e.gossip()


def test_equivocating_votes_are_reported() -> None:
    e = make_engine(ME)
    e.start()
    j = others(ME)[0]
    acts = feed(e, vote(j, PRE, X), vote(j, PRE, Y))
    [rep] = [a for a in acts if isinstance(a, ReportEvidence)]
    assert rep.evidence == make_evidence(vote(j, PRE, X), vote(j, PRE, Y))
    assert e.on_evidence(rep.evidence) == [ReportEvidence(rep.evidence)]
    [r] = e.on_evidence(make_evidence(vote(j, PRE, X), vote(j, PRE, X)))
    assert isinstance(r, Rejected)


def test_messages_for_the_next_height_are_kept_until_it_starts() -> None:
    e = make_engine(ME)
    e.start()
    early = proposal(X, height=2)
    assert feed(e, early) == []
    feed(e, proposal(Y), *(vote(j, PRE, Y) for j in others(ME)[:2]))
    acts = feed(e, *(vote(j, COM, Y) for j in others(ME)[:2]))
    assert any(isinstance(a, Decide) for a in acts) and e.height == 2
    acts = e.start()
    if proposer(2, 0) != ME:
        assert (PRE, hash_block(X)) in [(v.type, v.block_hash) for v in sent_votes(acts)]


def test_block_sync_decides_from_a_valid_commit_only() -> None:
    e = make_engine(ME)
    e.start()
    pcs = tuple(vote(j, COM, X) for j in sorted(others(ME), key=lambda j: KEYS[j].public_bytes))
    weak = CommittedBlock(X, Commit(1, 0, hash_block(X), pcs[:2]))
    [r] = e.on_committed_block(weak)
    assert isinstance(r, Rejected) and e.height == 1
    wrong_block = CommittedBlock(Y, Commit(1, 0, hash_block(X), pcs))
    assert isinstance(e.on_committed_block(wrong_block)[0], Rejected)
    acts = e.on_committed_block(CommittedBlock(X, Commit(1, 0, hash_block(X), pcs)))
    assert [(a.height, a.block) for a in acts if isinstance(a, Decide)] == [(1, X)]
    assert e.height == 2 and e.last_committed.block == X
    assert e.on_committed_block(CommittedBlock(X, Commit(1, 0, hash_block(X), pcs))) == []


def test_gossip_resends_own_messages_and_relays_the_rounds_votes() -> None:
    e = make_engine(P0)
    e.start()
    j = others(P0)[0]
    feed(e, vote(j, PRE, None))
    msgs = [b.message for b in e.gossip()]
    own_proposal = [m for m in msgs if isinstance(m, Proposal)]
    assert len(own_proposal) == 1 and own_proposal[0].proposer == VS.proposer(1, 0).address
    assert vote(j, PRE, None) in msgs
    assert any(isinstance(m, Vote) and m.validator == own_proposal[0].proposer for m in msgs)


@pytest.mark.parametrize("bad", [dict(propose=0), dict(delta=-1.0)])
def test_timeouts_must_be_positive(bad) -> None:
    from stratos.common.errors import ConfigError

    with pytest.raises(ConfigError, match="must be > 0"):
        TimeoutConfig(**bad)
