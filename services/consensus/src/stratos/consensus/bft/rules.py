"""The upon-rules of Tendermint's Algorithm 1, as a mixin of `Engine`.

Split from `engine.py` so the rules read as in the paper, one method per rule with its line
number, apart from event intake and signing. Each rule checks its guard against the engine's
state and message log, acts through the engine's transitions, and returns True when it fired;
`_process` re-runs them until none fires.
"""

from __future__ import annotations

from stratos.consensus.bft.height_log import HeightLog
from stratos.consensus.bft.messages import NIL, Commit, Proposal, VoteType, hash_block
from stratos.consensus.bft.types import Action, Step


class UponRules:
    # State and transitions provided by Engine.
    height: int
    round: int
    step: Step
    locked_round: int
    locked_block: bytes | None
    valid_round: int
    valid_block: bytes | None
    _started: bool
    _log: HeightLog
    _prevote_timer: set[int]
    _precommit_timer: set[int]
    _polka_seen: set[int]

    def _start_round(self, round_: int, acts: list[Action]) -> None:
        raise NotImplementedError

    def _decide(self, block: bytes, commit: Commit, acts: list[Action]) -> None:
        raise NotImplementedError

    def _vote(self, vtype: VoteType, block_hash: bytes, acts: list[Action]) -> None:
        raise NotImplementedError

    def _schedule(self, kind: Step, acts: list[Action]) -> None:
        raise NotImplementedError

    def _valid(self, p: Proposal) -> bool:
        raise NotImplementedError

    def _process(self, acts: list[Action]) -> None:
        # Every firing moves state forward (height, round, step, or a once-per-round flag),
        # so the loop ends.
        while self._started and (
            self._upon_decision(acts)
            or self._upon_round_skip(acts)
            or self._upon_proposal(acts)
            or self._upon_prevotes_any(acts)
            or self._upon_polka(acts)
            or self._upon_nil_polka(acts)
            or self._upon_precommits_any(acts)
        ):
            pass

    def _upon_decision(self, acts: list[Action]) -> bool:
        """Line 49: a proposal and 2f+1 precommits for it, in any round."""
        for r in self._log.votes.rounds(VoteType.PRECOMMIT):
            precommits = self._log.votes.precommits(r)
            h = precommits.quorum_hash()
            if not h:
                continue
            p = next((p for p in self._log.proposals.values() if p.block_hash == h), None)
            if p is not None and self._valid(p):
                self._decide(p.block, precommits.commit_for(h), acts)
                return True
        return False

    def _upon_round_skip(self, acts: list[Action]) -> bool:
        """Line 55: f+1 validators are in a later round; join them."""
        r = self._log.skip_round()
        if r > self.round:
            self._start_round(r, acts)
            return True
        return False

    def _upon_proposal(self, acts: list[Action]) -> bool:
        """Lines 22 (fresh value) and 28 (value re-proposed with a proof of lock)."""
        p = self._log.proposals.get(self.round)
        if self.step != Step.PROPOSE or p is None:
            return False
        locked_on_it = self.locked_block is not None and hash_block(self.locked_block) == (
            p.block_hash
        )
        if p.pol_round == -1:
            ok = self.locked_round == -1 or locked_on_it
        elif self._log.votes.prevotes(p.pol_round).quorum_hash() == p.block_hash:
            ok = self.locked_round <= p.pol_round or locked_on_it
        else:
            return False  # wait for the proof of lock, or the propose timeout
        self._vote(VoteType.PREVOTE, p.block_hash if ok and self._valid(p) else NIL, acts)
        return True

    def _upon_prevotes_any(self, acts: list[Action]) -> bool:
        """Line 34: 2f+1 prevotes of any kind — give the stragglers timeoutPrevote."""
        r = self.round
        if self.step != Step.PREVOTE or r in self._prevote_timer:
            return False
        if not self._log.votes.prevotes(r).has_quorum_any():
            return False
        self._prevote_timer.add(r)
        self._schedule(Step.PREVOTE, acts)
        return True

    def _upon_polka(self, acts: list[Action]) -> bool:
        """Line 36: the round's proposal got 2f+1 prevotes — lock on it (if still at prevote)
        and in any case remember it as the valid value to re-propose."""
        r = self.round
        p = self._log.proposals.get(r)
        if self.step < Step.PREVOTE or r in self._polka_seen or p is None:
            return False
        if self._log.votes.prevotes(r).quorum_hash() != p.block_hash or not self._valid(p):
            return False
        self._polka_seen.add(r)
        self.valid_round, self.valid_block = r, p.block
        if self.step == Step.PREVOTE:
            self.locked_round, self.locked_block = r, p.block
            self._vote(VoteType.PRECOMMIT, p.block_hash, acts)
        return True

    def _upon_nil_polka(self, acts: list[Action]) -> bool:
        """Line 44: 2f+1 prevotes for nil — precommit nil."""
        if self.step != Step.PREVOTE or self._log.votes.prevotes(self.round).quorum_hash() != NIL:
            return False
        self._vote(VoteType.PRECOMMIT, NIL, acts)
        return True

    def _upon_precommits_any(self, acts: list[Action]) -> bool:
        """Line 47: 2f+1 precommits of any kind — end the round after timeoutPrecommit."""
        r = self.round
        if r in self._precommit_timer or not self._log.votes.precommits(r).has_quorum_any():
            return False
        self._precommit_timer.add(r)
        self._schedule(Step.PRECOMMIT, acts)
        return True
