"""Conversion between the consensus values and the `stratos.v1` BFT protobufs.

The only place the engine's messages meet protobuf: the node's gRPC streams call `encode` /
`decode`. `decode` checks shape (field ranges and lengths) so the engine only ever sees
well-formed values; whether a message is *correct* (signature, proposer, quorum) is the
engine's business.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from stratos.consensus.bft.messages import (
    HASH_LEN,
    NIL,
    SIGNATURE_LEN,
    Commit,
    CommittedBlock,
    Evidence,
    InvalidMessage,
    Message,
    Proposal,
    Vote,
    VoteType,
)
from stratos.v1 import bft_pb2

_ADDRESS_LEN = 40  # hex of 20 bytes


def vote_to_proto(v: Vote) -> bft_pb2.Vote:
    return bft_pb2.Vote(
        type=int(v.type),
        height=v.height,
        round=v.round,
        block_hash=v.block_hash,
        validator=v.validator,
        signature=v.signature,
    )


def commit_to_proto(c: Commit) -> bft_pb2.Commit:
    return bft_pb2.Commit(
        height=c.height,
        round=c.round,
        block_hash=c.block_hash,
        precommits=[vote_to_proto(v) for v in c.precommits],
    )


def to_proto(msg: Message) -> bft_pb2.ConsensusMessage:
    if isinstance(msg, Vote):
        return bft_pb2.ConsensusMessage(vote=vote_to_proto(msg))
    if isinstance(msg, Proposal):
        return bft_pb2.ConsensusMessage(
            proposal=bft_pb2.Proposal(
                height=msg.height,
                round=msg.round,
                pol_round=msg.pol_round,
                block=msg.block,
                block_hash=msg.block_hash,
                proposer=msg.proposer,
                signature=msg.signature,
            )
        )
    if isinstance(msg, CommittedBlock):
        return bft_pb2.ConsensusMessage(
            committed=bft_pb2.CommittedBlock(block=msg.block, commit=commit_to_proto(msg.commit))
        )
    return bft_pb2.ConsensusMessage(
        evidence=bft_pb2.Evidence(a=vote_to_proto(msg.a), b=vote_to_proto(msg.b))
    )


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise InvalidMessage(f"malformed consensus message: {what}")


def vote_from_proto(p: bft_pb2.Vote) -> Vote:
    _check(p.type in (VoteType.PREVOTE, VoteType.PRECOMMIT), "unknown vote type")
    _check(p.height >= 1 and p.round >= 0, "vote height or round out of range")
    _check(len(p.block_hash) in (0, HASH_LEN), "vote block hash is not 0 or 32 bytes")
    _check(len(p.validator) == _ADDRESS_LEN, "vote validator is not a 40-hex address")
    _check(len(p.signature) == SIGNATURE_LEN, "vote signature is not 64 bytes")
    return Vote(VoteType(p.type), p.height, p.round, p.block_hash or NIL, p.validator, p.signature)


def commit_from_proto(p: bft_pb2.Commit) -> Commit:
    _check(p.height >= 1 and p.round >= 0, "commit height or round out of range")
    _check(len(p.block_hash) == HASH_LEN, "commit block hash is not 32 bytes")
    return Commit(p.height, p.round, p.block_hash, tuple(vote_from_proto(v) for v in p.precommits))


def from_proto(m: bft_pb2.ConsensusMessage) -> Message:
    kind = m.WhichOneof("msg")
    if kind == "vote":
        return vote_from_proto(m.vote)
    if kind == "proposal":
        p = m.proposal
        _check(p.height >= 1 and p.round >= 0, "proposal height or round out of range")
        _check(-1 <= p.pol_round < p.round or p.pol_round == -1, "proposal pol_round out of range")
        _check(len(p.block_hash) == HASH_LEN, "proposal block hash is not 32 bytes")
        _check(len(p.proposer) == _ADDRESS_LEN, "proposer is not a 40-hex address")
        _check(len(p.signature) == SIGNATURE_LEN, "proposal signature is not 64 bytes")
        return Proposal(
            p.height, p.round, p.pol_round, p.block, p.block_hash, p.proposer, p.signature
        )
    if kind == "committed":
        _check(m.committed.HasField("commit"), "committed block without a commit")
        return CommittedBlock(m.committed.block, commit_from_proto(m.committed.commit))
    if kind == "evidence":
        e = m.evidence
        _check(e.HasField("a") and e.HasField("b"), "evidence without two votes")
        return Evidence(vote_from_proto(e.a), vote_from_proto(e.b))
    raise InvalidMessage("malformed consensus message: empty envelope")


def encode(msg: Message) -> bytes:
    return to_proto(msg).SerializeToString()


def decode(data: bytes) -> Message:
    m = bft_pb2.ConsensusMessage()
    try:
        m.ParseFromString(data)
    except DecodeError:
        raise InvalidMessage("malformed consensus message: not a ConsensusMessage") from None
    return from_proto(m)
