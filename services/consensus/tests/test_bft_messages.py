"""Signed consensus messages: canonical sign bytes, the wire format, and evidence on its own."""

from __future__ import annotations

import dataclasses

import pytest
from bft_sim import make_keys, make_validator_set
from blake3 import blake3

from stratos.common.identity import verify
from stratos.consensus.bft.evidence import make_evidence, verify_evidence
from stratos.consensus.bft.messages import (
    NIL,
    Commit,
    CommittedBlock,
    InvalidMessage,
    VoteType,
    address_of,
    hash_block,
    sign_proposal,
    sign_vote,
)
from stratos.consensus.bft.wire import decode, encode
from stratos.v1 import bft_pb2

CHAIN = "test-chain"
KEYS = make_keys(4)
VS = make_validator_set(KEYS)
BLOCK_A, BLOCK_B = hash_block(b"a"), hash_block(b"b")


def test_address_is_hex_of_first_20_bytes_of_blake3_of_the_key() -> None:
    pk = KEYS[0].public_bytes
    assert address_of(pk) == blake3(pk).digest()[:20].hex()
    assert len(address_of(pk)) == 40


def test_a_vote_signature_covers_every_field_and_the_chain() -> None:
    v = sign_vote(KEYS[0], CHAIN, VoteType.PREVOTE, 5, 2, BLOCK_A)
    pk = KEYS[0].public_bytes
    assert verify(pk, v.signature, v.sign_bytes(CHAIN))
    assert v.sign_bytes(CHAIN).startswith(b"stratos.vote.v1\x00")
    assert not verify(pk, v.signature, v.sign_bytes("other-chain"))
    for change in (
        {"type": VoteType.PRECOMMIT},
        {"height": 6},
        {"round": 3},
        {"block_hash": NIL},
        {"validator": address_of(KEYS[1].public_bytes)},
    ):
        assert not verify(pk, v.signature, dataclasses.replace(v, **change).sign_bytes(CHAIN))


def test_proposal_and_vote_sign_bytes_are_domain_separated() -> None:
    p = sign_proposal(KEYS[0], CHAIN, 1, 0, -1, b"a")
    v = sign_vote(KEYS[0], CHAIN, VoteType.PREVOTE, 1, 0, p.block_hash)
    assert p.sign_bytes(CHAIN).startswith(b"stratos.proposal.v1\x00")
    assert not verify(KEYS[0].public_bytes, p.signature, v.sign_bytes(CHAIN))
    assert p.block_hash == hash_block(b"a")


def test_every_message_survives_the_wire() -> None:
    prevote = sign_vote(KEYS[0], CHAIN, VoteType.PREVOTE, 3, 1, NIL)
    pcs = tuple(sign_vote(k, CHAIN, VoteType.PRECOMMIT, 3, 1, BLOCK_A) for k in KEYS[:3])
    msgs = [
        prevote,
        sign_proposal(KEYS[1], CHAIN, 3, 4, 2, b"block bytes"),
        CommittedBlock(b"a", Commit(3, 1, BLOCK_A, pcs)),
        make_evidence(prevote, sign_vote(KEYS[0], CHAIN, VoteType.PREVOTE, 3, 1, BLOCK_A)),
    ]
    for m in msgs:
        assert decode(encode(m)) == m


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: setattr(m.vote, "signature", b"short"),
        lambda m: setattr(m.vote, "round", -1),
        lambda m: setattr(m.vote, "height", 0),
        lambda m: setattr(m.vote, "block_hash", b"\x01" * 31),
        lambda m: setattr(m.vote, "type", 0),
        lambda m: setattr(m.vote, "validator", "not-an-address"),
        lambda m: m.ClearField("vote"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(mutate) -> None:
    m = bft_pb2.ConsensusMessage()
    m.ParseFromString(encode(sign_vote(KEYS[0], CHAIN, VoteType.PREVOTE, 1, 0, BLOCK_A)))
    mutate(m)
    with pytest.raises(InvalidMessage, match="malformed"):
        decode(m.SerializeToString())


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(InvalidMessage, match="malformed"):
        decode(b"\xff\xff\xff not a protobuf")


def test_a_proposal_pol_round_must_be_below_its_round() -> None:
    m = bft_pb2.ConsensusMessage()
    m.ParseFromString(encode(sign_proposal(KEYS[0], CHAIN, 1, 2, 1, b"x")))
    m.proposal.pol_round = 2
    with pytest.raises(InvalidMessage, match="pol_round"):
        decode(m.SerializeToString())


def _equivocation(key_index: int = 2):
    a = sign_vote(KEYS[key_index], CHAIN, VoteType.PRECOMMIT, 9, 1, BLOCK_A)
    b = sign_vote(KEYS[key_index], CHAIN, VoteType.PRECOMMIT, 9, 1, BLOCK_B)
    return a, b


def test_evidence_convicts_the_equivocator_and_is_canonical() -> None:
    a, b = _equivocation()
    ev = make_evidence(a, b)
    assert ev == make_evidence(b, a)
    assert verify_evidence(ev, VS, CHAIN).address == a.validator


def test_evidence_that_proves_nothing_is_refused() -> None:
    a, b = _equivocation()
    other_round = sign_vote(KEYS[2], CHAIN, VoteType.PRECOMMIT, 9, 2, BLOCK_B)
    other_type = sign_vote(KEYS[2], CHAIN, VoteType.PREVOTE, 9, 1, BLOCK_B)
    other_validator = sign_vote(KEYS[3], CHAIN, VoteType.PRECOMMIT, 9, 1, BLOCK_B)
    for bad, why in [
        (make_evidence(a, a), "same block"),
        (make_evidence(a, other_round), "differ"),
        (make_evidence(a, other_type), "differ"),
        (make_evidence(a, other_validator), "differ"),
        (make_evidence(a, dataclasses.replace(b, signature=a.signature)), "bad signature"),
    ]:
        with pytest.raises(InvalidMessage, match=why):
            verify_evidence(bad, VS, CHAIN)
    outsider = make_keys(5, seed=9)[4]
    x = sign_vote(outsider, CHAIN, VoteType.PREVOTE, 1, 0, BLOCK_A)
    y = sign_vote(outsider, CHAIN, VoteType.PREVOTE, 1, 0, BLOCK_B)
    with pytest.raises(InvalidMessage, match="not a validator"):
        verify_evidence(make_evidence(x, y), VS, CHAIN)
    with pytest.raises(InvalidMessage, match="bad signature"):
        verify_evidence(make_evidence(a, b), VS, "other-chain")
