"""Equivocation caught after the fact: an engine keeps the vote sets of the height it last
decided, so a conflicting vote for that height that arrives late still becomes evidence, and it
gossips that height's decided-round votes so that peers which decided early get to compare."""

from __future__ import annotations

from test_bft_engine import CHAIN, COM, ME, PRE, VS, X, Y, Z, feed, make_engine, others, proposal
from test_bft_engine import vote as sign

from stratos.consensus.bft.engine import Engine
from stratos.consensus.bft.evidence import make_evidence, verify_evidence
from stratos.consensus.bft.types import Broadcast, Decide, ReportEvidence


def decide(e: Engine, block: bytes, height: int) -> list[int]:
    """Drive `e` through `height` with the others' votes for `block`; the voters used."""
    voters = others(ME)[:2]
    feed(e, proposal(block, height=height))
    feed(e, *(sign(j, PRE, block, height=height) for j in voters))
    acts = feed(e, *(sign(j, COM, block, height=height) for j in voters))
    assert [d.height for d in acts if isinstance(d, Decide)] == [height]
    e.start()
    return voters


def snapshot(e: Engine):
    return (e.height, e.round, e.step, e.locked_round, e.locked_block, e.valid_round, e.last_signed)


def test_a_late_conflicting_vote_for_the_decided_height_is_reported_once() -> None:
    e = make_engine(ME)
    e.start()
    j, _ = decide(e, X, 1)
    before = snapshot(e)
    assert feed(e, sign(j, COM, X)) == []  # the vote it already had
    acts = feed(e, sign(j, COM, Y))
    [rep] = acts
    assert isinstance(rep, ReportEvidence)
    assert rep.evidence == make_evidence(sign(j, COM, X), sign(j, COM, Y))
    assert verify_evidence(rep.evidence, VS, CHAIN).address == sign(j, COM, X).validator
    assert feed(e, sign(j, COM, Y), sign(j, COM, None)) == []  # convicted once per vote set
    assert snapshot(e) == before


def test_a_late_nil_prevote_equivocation_is_reported_without_touching_the_height() -> None:
    e = make_engine(ME)
    e.start()
    j, _ = decide(e, X, 1)
    before = snapshot(e)
    [rep] = feed(e, sign(j, PRE, None))
    assert isinstance(rep, ReportEvidence)
    verify_evidence(rep.evidence, VS, CHAIN)
    assert snapshot(e) == before


def test_votes_older_than_the_last_decided_height_or_far_rounds_are_ignored() -> None:
    e = make_engine(ME)
    e.start()
    j, _ = decide(e, X, 1)
    decide(e, Y, 2)
    assert e.height == 3
    before = snapshot(e)
    assert feed(e, sign(j, COM, Z, height=1)) == []  # h - 2: dropped, no evidence
    assert feed(e, sign(j, COM, Z, height=2, round_=5)) == []  # a round never reached
    assert snapshot(e) == before


def test_gossip_carries_the_last_heights_decided_votes() -> None:
    e = make_engine(ME)
    e.start()
    j, k = decide(e, X, 1)
    msgs = {b.message for b in e.gossip() if isinstance(b, Broadcast)}
    assert {sign(j, COM, X), sign(k, COM, X), sign(j, PRE, X)} <= msgs
    decide(e, Y, 2)
    msgs = {b.message for b in e.gossip()}
    assert sign(j, COM, X) not in msgs and sign(j, COM, Y, height=2) in msgs
