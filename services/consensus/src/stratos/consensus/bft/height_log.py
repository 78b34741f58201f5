"""Everything the engine has accepted at its current height: proposals, votes, own messages.

Kept apart from the rules in `engine.py` so that checking a message (signature, proposer,
hash) and storing it is one place, and the upon-rules only read. Memory stays bounded against
a Byzantine validator that signs votes for absurd rounds: beyond `ROUND_WINDOW` rounds ahead, a
verified vote only moves that validator's highest-seen round (all the round-skip rule needs)
and is not stored.
"""

from __future__ import annotations

from stratos.common.identity import verify
from stratos.consensus.bft.messages import InvalidMessage, Message, Proposal, Vote, hash_block
from stratos.consensus.bft.validators import ValidatorSet
from stratos.consensus.bft.votes import AddResult, HeightVoteSet, verify_vote

ROUND_WINDOW = 32


class HeightLog:
    def __init__(self, chain_id: str, validators: ValidatorSet, height: int) -> None:
        self.chain_id, self.validators, self.height = chain_id, validators, height
        self.votes = HeightVoteSet(chain_id, validators, height)
        self.proposals: dict[int, Proposal] = {}
        self.own: list[Message] = []  # signed by this validator at this height, for gossip
        self._max_round: dict[str, int] = {}

    def add_proposal(self, p: Proposal, current_round: int) -> bool:
        """Store a proposal from the round's proposer; False for a duplicate or a far round."""
        if p.height != self.height:
            raise InvalidMessage(f"proposal for height {p.height}, expected {self.height}")
        if p.round > current_round + ROUND_WINDOW:
            return False
        prior = self.proposals.get(p.round)
        if prior == p:
            return False
        expected = self.validators.proposer(p.height, p.round).address
        if p.proposer != expected:
            raise InvalidMessage(f"proposal for round {p.round} by {p.proposer}, not {expected}")
        if p.pol_round != -1 and not 0 <= p.pol_round < p.round:
            raise InvalidMessage(f"proposal pol_round {p.pol_round} is not below its round")
        if hash_block(p.block) != p.block_hash:
            raise InvalidMessage("proposal block does not match its block hash")
        val = self.validators.get(p.proposer)
        assert val is not None  # the proposer comes from the set
        if not verify(val.public_key, p.signature, p.sign_bytes(self.chain_id)):
            raise InvalidMessage(f"proposal by {p.proposer} has a bad signature")
        if prior is not None:
            # A second, different signed proposal: the proposer equivocated. Keep the first
            # (any honest validator's choice is safe); votes, not proposals, are slashable.
            return False
        self.proposals[p.round] = p
        self._note_round(p.proposer, p.round)
        return True

    def add_vote(self, v: Vote, current_round: int) -> AddResult:
        if v.height != self.height:
            raise InvalidMessage(f"vote for height {v.height}, expected {self.height}")
        if v.round > current_round + ROUND_WINDOW:
            verify_vote(v, self.validators, self.chain_id)
            self._note_round(v.validator, v.round)
            return AddResult(False)
        result = self.votes.add(v)
        if result.added:
            self._note_round(v.validator, v.round)
        return result

    def _note_round(self, address: str, round_: int) -> None:
        if round_ > self._max_round.get(address, -1):
            self._max_round[address] = round_

    def skip_round(self) -> int:
        """The highest round r such that validators with more than 1/3 of the power have sent
        a message of round r or later (so an honest one has reached r); -1 if none.

        This is the paper's "f+1 messages of round r" rule read per validator: a validator's
        latest round stands for all it has passed, which needs no per-round storage.
        """
        power = 0
        for address, round_ in sorted(self._max_round.items(), key=lambda kv: -kv[1]):
            val = self.validators.get(address)
            power += val.power if val else 0
            if self.validators.has_skip(power):
                return round_
        return -1
