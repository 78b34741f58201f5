"""Vote bookkeeping: which validators voted for what in a (height, round, type), by power.

A `VoteSet` tallies power per block hash (nil included) and, for "has a quorum voted at all",
each validator once. A second, different vote by the same validator is equivocation and
becomes evidence (see `VoteSet.add` for how it is counted). The engine asks three questions
of a set: is there a quorum for one block (or nil), has a quorum voted at all, and has more
than 1/3 voted.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratos.common.identity import verify
from stratos.consensus.bft.evidence import make_evidence
from stratos.consensus.bft.messages import Commit, Evidence, InvalidMessage, Vote, VoteType
from stratos.consensus.bft.validators import Validator, ValidatorSet


def verify_vote(vote: Vote, validators: ValidatorSet, chain_id: str) -> Validator:
    """The voting validator; raises InvalidMessage for an unknown validator or bad signature."""
    val = validators.get(vote.validator)
    if val is None:
        raise InvalidMessage(f"vote by {vote.validator}, which is not a validator")
    if not verify(val.public_key, vote.signature, vote.sign_bytes(chain_id)):
        raise InvalidMessage(f"vote by {vote.validator} has a bad signature")
    return val


@dataclass(frozen=True, slots=True)
class AddResult:
    added: bool  # a new vote now counts
    evidence: Evidence | None = None  # the vote contradicted an earlier one by its validator


class VoteSet:
    def __init__(
        self, chain_id: str, validators: ValidatorSet, height: int, round_: int, vtype: VoteType
    ) -> None:
        self.chain_id = chain_id
        self.validators = validators
        self.height, self.round, self.type = height, round_, vtype
        self._first: dict[str, Vote] = {}  # each validator's first vote: the "any" tally
        self._by_value: dict[bytes, dict[str, Vote]] = {}  # block hash -> validator -> vote
        self._power: dict[bytes, int] = {}
        self._total = 0
        self._convicted: set[str] = set()

    def add(self, vote: Vote) -> AddResult:
        """Count a vote after checking it; raises InvalidMessage when it must be dropped.

        An equivocator's second vote yields evidence and still counts for its block when
        another validator's first vote is for that block (or it is nil). Counting it is safe —
        two quorums for different blocks would still need an honest validator in both — and
        needed for liveness: honest validators that saw different first votes of an
        equivocator must still agree that the honest majority formed a quorum. Requiring
        another validator's support bounds what an equivocator can make us store.
        """
        if (vote.height, vote.round, vote.type) != (self.height, self.round, self.type):
            raise InvalidMessage(
                f"vote for height {vote.height} round {vote.round} {vote.type.name} does not "
                f"belong to height {self.height} round {self.round} {self.type.name}"
            )
        prior = self._first.get(vote.validator)
        if prior == vote or vote.validator in self._by_value.get(vote.block_hash, {}):
            return AddResult(False)  # a gossip duplicate: skip the signature check
        val = verify_vote(vote, self.validators, self.chain_id)
        evidence = None
        if prior is None:
            self._first[vote.validator] = vote
            self._total += val.power
        else:
            if vote.validator not in self._convicted:
                self._convicted.add(vote.validator)
                evidence = make_evidence(prior, vote)
            supporters = self._by_value.get(vote.block_hash, {})
            if not vote.is_nil and not any(
                self._first[a].block_hash == vote.block_hash for a in supporters
            ):
                return AddResult(False, evidence)
        self._by_value.setdefault(vote.block_hash, {})[vote.validator] = vote
        self._power[vote.block_hash] = self._power.get(vote.block_hash, 0) + val.power
        return AddResult(True, evidence)

    def __len__(self) -> int:
        return len(self._first)

    def votes(self) -> list[Vote]:
        """Every counted vote, an equivocator's both."""
        return [v for by_val in self._by_value.values() for v in by_val.values()]

    def power_for(self, block_hash: bytes) -> int:
        return self._power.get(block_hash, 0)

    def quorum_hash(self) -> bytes | None:
        """The block hash (NIL for nil) with more than 2/3 of the power, if any."""
        for block_hash, power in self._power.items():
            if self.validators.has_quorum(power):
                return block_hash
        return None

    def has_quorum_any(self) -> bool:
        return self.validators.has_quorum(self._total)

    def has_skip_any(self) -> bool:
        return self.validators.has_skip(self._total)

    def commit_for(self, block_hash: bytes) -> Commit:
        votes = sorted(self._by_value.get(block_hash, {}).values(), key=lambda v: v.validator)
        return Commit(self.height, self.round, block_hash, tuple(votes))


class HeightVoteSet:
    """All vote sets of one height, created on first use."""

    def __init__(self, chain_id: str, validators: ValidatorSet, height: int) -> None:
        self.chain_id, self.validators, self.height = chain_id, validators, height
        self._sets: dict[tuple[int, VoteType], VoteSet] = {}

    def get(self, round_: int, vtype: VoteType) -> VoteSet:
        key = (round_, vtype)
        vs = self._sets.get(key)
        if vs is None:
            vs = self._sets[key] = VoteSet(
                self.chain_id, self.validators, self.height, round_, vtype
            )
        return vs

    def prevotes(self, round_: int) -> VoteSet:
        return self.get(round_, VoteType.PREVOTE)

    def precommits(self, round_: int) -> VoteSet:
        return self.get(round_, VoteType.PRECOMMIT)

    def add(self, vote: Vote) -> AddResult:
        if vote.height != self.height:
            raise InvalidMessage(f"vote for height {vote.height}, expected {self.height}")
        return self.get(vote.round, vote.type).add(vote)

    def rounds(self, vtype: VoteType) -> list[int]:
        return sorted(r for (r, t) in self._sets if t == vtype)


def verify_commit(commit: Commit, validators: ValidatorSet, chain_id: str) -> None:
    """Raise InvalidMessage unless more than 2/3 of the power signed precommits for the block."""
    if not commit.block_hash:
        raise InvalidMessage("a commit cannot be for nil")
    seen: set[str] = set()
    power = 0
    for v in commit.precommits:
        if (v.type, v.height, v.round, v.block_hash) != (
            VoteType.PRECOMMIT,
            commit.height,
            commit.round,
            commit.block_hash,
        ):
            raise InvalidMessage("a commit holds a vote that is not a precommit for its block")
        if v.validator in seen:
            raise InvalidMessage(f"a commit counts {v.validator} twice")
        seen.add(v.validator)
        power += verify_vote(v, validators, chain_id).power
    if not validators.has_quorum(power):
        raise InvalidMessage(
            f"a commit carries {power} of {validators.total_power} power, not more than 2/3"
        )
