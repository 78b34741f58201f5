"""The BFT messages as immutable values, and the exact bytes a validator signs.

The engine works on these frozen dataclasses rather than on protobuf objects: they are
hashable, cannot be mutated after a signature was checked, and keep the consensus core free of
wire concerns (`wire` converts at the edge). A signature covers a canonical encoding — a
domain tag, the chain id and fixed-width fields — never a protobuf serialization, whose bytes
are not guaranteed stable across library versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from blake3 import blake3

from stratos.common.errors import InvalidArgument
from stratos.common.identity import Identity, address_of

VOTE_TAG = b"stratos.vote.v1\x00"
PROPOSAL_TAG = b"stratos.proposal.v1\x00"
HASH_LEN = 32
SIGNATURE_LEN = 64
NIL = b""


class InvalidMessage(InvalidArgument):
    """A consensus message that must be dropped: malformed, wrongly signed, or out of place."""


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


def hash_block(block: bytes) -> bytes:
    """The id consensus agrees on: BLAKE3-256 of the opaque serialized block."""
    return blake3(block).digest()


def _lp(data: bytes) -> bytes:
    # Length-prefixed so that no two field tuples share an encoding.
    return len(data).to_bytes(4, "big") + data


def vote_sign_bytes(
    chain_id: str, vtype: VoteType, height: int, round_: int, block_hash: bytes, validator: str
) -> bytes:
    return b"".join(
        (
            VOTE_TAG,
            _lp(chain_id.encode()),
            bytes((int(vtype),)),
            height.to_bytes(8, "big"),
            round_.to_bytes(8, "big", signed=True),
            _lp(block_hash),
            _lp(validator.encode()),
        )
    )


def proposal_sign_bytes(
    chain_id: str, height: int, round_: int, pol_round: int, block_hash: bytes, proposer: str
) -> bytes:
    return b"".join(
        (
            PROPOSAL_TAG,
            _lp(chain_id.encode()),
            height.to_bytes(8, "big"),
            round_.to_bytes(8, "big", signed=True),
            pol_round.to_bytes(8, "big", signed=True),
            _lp(block_hash),
            _lp(proposer.encode()),
        )
    )


@dataclass(frozen=True, slots=True)
class Vote:
    type: VoteType
    height: int
    round: int
    block_hash: bytes  # NIL (b"") votes for no block
    validator: str
    signature: bytes = b""

    @property
    def is_nil(self) -> bool:
        return self.block_hash == NIL

    def sign_bytes(self, chain_id: str) -> bytes:
        return vote_sign_bytes(
            chain_id, self.type, self.height, self.round, self.block_hash, self.validator
        )


@dataclass(frozen=True, slots=True)
class Proposal:
    height: int
    round: int
    pol_round: int  # -1: a fresh value; otherwise the round whose prevotes justify re-proposing
    block: bytes
    block_hash: bytes
    proposer: str
    signature: bytes = b""

    def sign_bytes(self, chain_id: str) -> bytes:
        return proposal_sign_bytes(
            chain_id, self.height, self.round, self.pol_round, self.block_hash, self.proposer
        )


@dataclass(frozen=True, slots=True)
class Commit:
    """More than 2/3 of the power precommitted `block_hash` at (height, round)."""

    height: int
    round: int
    block_hash: bytes
    precommits: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Two votes by one validator for the same (height, round, type) and different blocks."""

    a: Vote
    b: Vote


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    """A decided block and its commit: lets a validator that missed the round catch up."""

    block: bytes
    commit: Commit


Message = Proposal | Vote | CommittedBlock | Evidence


def sign_vote(
    identity: Identity,
    chain_id: str,
    vtype: VoteType,
    height: int,
    round_: int,
    block_hash: bytes,
) -> Vote:
    validator = address_of(identity.public_bytes)
    unsigned = Vote(vtype, height, round_, block_hash, validator)
    return Vote(
        vtype, height, round_, block_hash, validator, identity.sign(unsigned.sign_bytes(chain_id))
    )


def sign_proposal(
    identity: Identity, chain_id: str, height: int, round_: int, pol_round: int, block: bytes
) -> Proposal:
    proposer = address_of(identity.public_bytes)
    unsigned = Proposal(height, round_, pol_round, block, hash_block(block), proposer)
    return Proposal(
        height,
        round_,
        pol_round,
        block,
        unsigned.block_hash,
        proposer,
        identity.sign(unsigned.sign_bytes(chain_id)),
    )
