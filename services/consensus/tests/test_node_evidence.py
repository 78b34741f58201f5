"""The node's evidence reporter: one Slash tx per distinct equivocation, signed by this node
with the nonce it is given and the chain's minimum fee; nothing for evidence already reported
or already committed, nor when this node's account cannot pay."""

from __future__ import annotations

from dataclasses import replace

from blake3 import blake3
from node_support import FEE, key, write_genesis

from stratos.consensus.bft.evidence import make_evidence
from stratos.consensus.bft.messages import VoteType, hash_block, sign_vote
from stratos.consensus.ledger.genesis import Genesis
from stratos.consensus.ledger.tx import decode_tx
from stratos.consensus.node.codec import evidence_to_bytes
from stratos.consensus.node.evidence import SlashReporter

KEYS = [key(i + 1) for i in range(4)]


def _genesis(tmp_path) -> Genesis:
    return write_genesis(tmp_path / "genesis.json", KEYS)


def _evidence(chain_id: str, height: int = 4):
    a = sign_vote(KEYS[2], chain_id, VoteType.PREVOTE, height, 0, hash_block(b"x"))
    b = sign_vote(KEYS[2], chain_id, VoteType.PREVOTE, height, 0, hash_block(b"y"))
    return make_evidence(a, b)


def test_an_equivocation_becomes_one_signed_slash_tx(tmp_path) -> None:
    state = _genesis(tmp_path).initial_state()
    reporter = SlashReporter(KEYS[0])
    ev = _evidence(state.chain_id)
    raw = reporter.report(ev, state, nonce=3)
    assert raw is not None
    tx = decode_tx(raw, max_tx_bytes=state.params.max_tx_bytes)
    assert tx.sender == reporter.address and tx.verify_sig()
    assert tx.body.nonce == 3 and tx.body.fee == FEE
    assert tx.body.slash.evidence == evidence_to_bytes(ev)
    # The same equivocation again (seen by another path, or its twin order): nothing new.
    assert reporter.report(ev, state, nonce=4) is None
    assert reporter.report(make_evidence(ev.b, ev.a), state, nonce=4) is None
    assert reporter.report(_evidence(state.chain_id, height=5), state, nonce=4) is not None


def test_evidence_the_chain_already_holds_is_not_reported(tmp_path) -> None:
    state = _genesis(tmp_path).initial_state()
    ev = _evidence(state.chain_id)
    committed = replace(state, evidence=frozenset({blake3(evidence_to_bytes(ev)).digest()}))
    assert SlashReporter(KEYS[1]).report(ev, committed, nonce=0) is None


def test_a_node_without_an_account_cannot_report(tmp_path) -> None:
    state = _genesis(tmp_path).initial_state()
    assert SlashReporter(key(99)).report(_evidence(state.chain_id), state, nonce=0) is None
