"""The double-sign guard: the only code that signs consensus messages with a validator's key.

Like Tendermint's privval, it remembers the last (height, round, step) it signed and refuses
anything earlier, or anything different at the same step. The engine hands the node a
`Persist` of the new state together with every signed message, to be made durable before the
message leaves the process, so the guard survives a SIGKILL: a restarted validator is built
from the persisted state and cannot sign a vote that conflicts with one already sent.
"""

from __future__ import annotations

from stratos.common.identity import Identity
from stratos.consensus.bft.messages import (
    Proposal,
    Vote,
    VoteType,
    address_of,
    hash_block,
    sign_proposal,
    sign_vote,
)
from stratos.consensus.bft.types import Persist, Rejected, SignedState, Step

_STEP_OF = {VoteType.PREVOTE: Step.PREVOTE, VoteType.PRECOMMIT: Step.PRECOMMIT}

Lock = tuple[int, bytes | None, int, bytes | None]  # locked round/block, valid round/block


class Signer:
    def __init__(self, identity: Identity, chain_id: str, last: SignedState | None) -> None:
        self._identity, self.chain_id, self.last = identity, chain_id, last
        self.address = address_of(identity.public_bytes)

    def _refusal(self, height: int, round_: int, step: Step, block_hash: bytes) -> Rejected | None:
        last = self.last
        if last is None or last.permits(height, round_, step, block_hash):
            return None
        return Rejected(
            f"refused to sign {step.name} at height {height} round {round_}: it conflicts "
            f"with the last signed {last.step.name} at height {last.height} round {last.round}"
        )

    def _record(
        self, height: int, round_: int, step: Step, block_hash: bytes, vote: Vote | None, lock: Lock
    ) -> Persist:
        self.last = SignedState(height, round_, step, block_hash, vote, *lock)
        return Persist(self.last)

    def vote(
        self, vtype: VoteType, height: int, round_: int, block_hash: bytes, lock: Lock
    ) -> tuple[Persist, Vote] | Rejected:
        step = _STEP_OF[vtype]
        refusal = self._refusal(height, round_, step, block_hash)
        if refusal is not None:
            return refusal
        vote = sign_vote(self._identity, self.chain_id, vtype, height, round_, block_hash)
        return self._record(height, round_, step, block_hash, vote, lock), vote

    def proposal(
        self, height: int, round_: int, pol_round: int, block: bytes, lock: Lock
    ) -> tuple[Persist, Proposal] | Rejected:
        refusal = self._refusal(height, round_, Step.PROPOSE, hash_block(block))
        if refusal is not None:
            return refusal
        p = sign_proposal(self._identity, self.chain_id, height, round_, pol_round, block)
        return self._record(height, round_, Step.PROPOSE, p.block_hash, None, lock), p
