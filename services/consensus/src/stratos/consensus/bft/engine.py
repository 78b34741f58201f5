"""The Tendermint consensus engine (Buchman, Kwon, Milosevic 2018, Algorithm 1), kept pure.

No I/O, no clock, no threads: the node feeds events in (`start`, `on_proposal`, `on_vote`,
`on_timeout`, `on_committed_block`, `on_evidence`) and carries out the returned actions in
order (see `types`). After every event the upon-rules of the paper (`rules`)
are re-evaluated until none fires. Deviations, none of which touches safety: a proposer also
arms its propose timeout (so a proposer that may not sign after a restart still moves on); a
decision may take the block bytes from any round's proposal with the decided hash; the
round-skip rule counts each validator's latest round (`HeightLog.skip_round`); after `Decide`
the engine waits for `start()` so the node can apply the block before the next `get_value()`;
and `gossip()` names what to re-send, since the paper assumes messages are never lost.
"""

from __future__ import annotations

from collections.abc import Callable

from stratos.common.identity import Identity
from stratos.consensus.bft.evidence import verify_evidence
from stratos.consensus.bft.height_log import HeightLog
from stratos.consensus.bft.messages import (
    NIL,
    Commit,
    CommittedBlock,
    Evidence,
    InvalidMessage,
    Message,
    Proposal,
    Vote,
    VoteType,
    address_of,
    hash_block,
)
from stratos.consensus.bft.rules import UponRules
from stratos.consensus.bft.signer import Lock, Signer
from stratos.consensus.bft.types import (
    Action,
    Broadcast,
    Decide,
    Rejected,
    ReportEvidence,
    ScheduleTimeout,
    SignedState,
    Step,
    TimeoutConfig,
)
from stratos.consensus.bft.validators import ValidatorSet
from stratos.consensus.bft.votes import HeightVoteSet, verify_commit


class Engine(UponRules):
    def __init__(
        self,
        validators: ValidatorSet,
        identity: Identity | None,
        chain_id: str,
        height: int,
        timeouts: TimeoutConfig,
        get_value: Callable[[], bytes],
        valid: Callable[[bytes], bool],
        signed_state: SignedState | None = None,
    ) -> None:
        """`identity` None (or a key outside the set) makes an observer that never signs.
        `height` is the next height to decide (last committed + 1); `signed_state` is the last
        `Persist`ed state, so a restarted validator keeps its lock and never double-signs."""
        self.validators, self.chain_id, self.timeouts = validators, chain_id, timeouts
        self._get_value, self._valid_fn = get_value, valid
        self.address = address_of(identity.public_bytes) if identity else None
        self._signer = (
            Signer(identity, chain_id, signed_state)
            if identity is not None and self.address in validators
            else None
        )
        self.height, self.round, self.step = height, 0, Step.PROPOSE
        self.last_committed: CommittedBlock | None = None
        # The last decided height's votes, kept only to catch a late equivocating vote.
        self._prev_votes: HeightVoteSet | None = None
        self._prev_max_round = -1
        self._new_height()
        if signed_state is not None and signed_state.height == height:
            s = signed_state
            self.round = s.round
            self.locked_round, self.locked_block = s.locked_round, s.locked_block
            self.valid_round, self.valid_block = s.valid_round, s.valid_block
            if s.vote is not None:
                self._log.own.append(s.vote)
                self._log.add_vote(s.vote, self.round)

    @property
    def last_signed(self) -> SignedState | None:
        return self._signer.last if self._signer is not None else None

    def _new_height(self) -> None:
        self._log = HeightLog(self.chain_id, self.validators, self.height)
        self._next: list[Proposal | Vote] = []  # early messages for height + 1
        self._validity: dict[bytes, bool] = {}
        self._prevote_timer: set[int] = set()
        self._precommit_timer: set[int] = set()
        self._polka_seen: set[int] = set()
        self.locked_round, self.locked_block = -1, None
        self.valid_round, self.valid_block = -1, None
        self._started = False

    # ---- events -------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin (or, after a `Decide`, continue with) the current height."""
        acts: list[Action] = []
        if not self._started:
            self._started = True
            self._start_round(self.round, acts)
            self._process(acts)
        return acts

    def on_message(self, msg: Message) -> list[Action]:
        if isinstance(msg, Vote):
            return self.on_vote(msg)
        if isinstance(msg, Proposal):
            return self.on_proposal(msg)
        if isinstance(msg, CommittedBlock):
            return self.on_committed_block(msg)
        return self.on_evidence(msg)

    def on_proposal(self, p: Proposal) -> list[Action]:
        return self._on_signed(p)

    def on_vote(self, v: Vote) -> list[Action]:
        return self._on_signed(v)

    def on_timeout(self, kind: Step, height: int, round_: int) -> list[Action]:
        acts: list[Action] = []
        if not self._started or (height, round_) != (self.height, self.round):
            return acts  # a timer of a round already left
        if kind == Step.PROPOSE and self.step == Step.PROPOSE:  # line 57
            self._vote(VoteType.PREVOTE, NIL, acts)
        elif kind == Step.PREVOTE and self.step == Step.PREVOTE:  # line 61
            self._vote(VoteType.PRECOMMIT, NIL, acts)
        elif kind == Step.PRECOMMIT:  # line 65
            self._start_round(self.round + 1, acts)
        self._process(acts)
        return acts

    def on_committed_block(self, cb: CommittedBlock) -> list[Action]:
        """Block sync: a decided block with its commit, for a validator that missed it."""
        c = cb.commit
        if c.height != self.height:
            return []
        try:
            verify_commit(c, self.validators, self.chain_id)
            if hash_block(cb.block) != c.block_hash:
                raise InvalidMessage("committed block does not match its commit's hash")
        except InvalidMessage as e:
            return [Rejected(e.message)]
        acts: list[Action] = []
        self._decide(cb.block, c, acts)
        return acts

    def on_evidence(self, ev: Evidence) -> list[Action]:
        try:
            verify_evidence(ev, self.validators, self.chain_id)
        except InvalidMessage as e:
            return [Rejected(e.message)]
        return [ReportEvidence(ev)]

    def gossip(self) -> list[Broadcast]:
        """What to re-send periodically or on (re)connect so that peers that lost messages —
        partitions, drops, restarts — still converge: what this validator signed at this
        height, the current round's proposal and the votes of the rounds that matter (relaying
        lets every validator see an equivocator's two votes), and the last height's decided
        round's votes, for late equivocation checks. A peer at a lower height needs
        block sync instead: `last_committed`, then the node's block store."""
        msgs: dict[Message, None] = dict.fromkeys(self._log.own)
        p = self._log.proposals.get(self.round)
        if p is not None:
            msgs[p] = None
        # Votes of the rounds that can still matter: the current and previous round, and the
        # rounds whose prevotes justify a lock, a valid value or the current proposal.
        rounds = {self.round - 1, self.round, self.locked_round, self.valid_round}
        if p is not None:
            rounds.add(p.pol_round)
        for r in sorted(r for r in rounds if r >= 0):
            for vtype in VoteType:
                msgs.update(dict.fromkeys(self._log.votes.get(r, vtype).votes()))
        # The decided round's votes of the last height, so that validators which decided it
        # before seeing an equivocator's other vote still get to compare the two.
        if self._prev_votes is not None and self.last_committed is not None:
            r = self.last_committed.commit.round
            for vtype in VoteType:
                msgs.update(dict.fromkeys(self._prev_votes.get(r, vtype).votes()))
        return [Broadcast(m) for m in msgs]

    # ---- intake -------------------------------------------------------------------------

    def _on_signed(self, msg: Proposal | Vote) -> list[Action]:
        if msg.height != self.height:
            if msg.height == self.height - 1 and isinstance(msg, Vote):
                return self._on_late_vote(msg)
            if msg.height == self.height + 1 and len(self._next) < 8 * len(self.validators):
                self._next.append(msg)  # a faster peer already moved on; replay after Decide
            return []
        acts: list[Action] = []
        try:
            added = self._ingest(msg, acts)
        except InvalidMessage as e:
            return [Rejected(e.message)]
        if added:
            self._process(acts)
        return acts

    def _on_late_vote(self, v: Vote) -> list[Action]:
        """A vote for the height just decided: only checked for equivocation, never counted.
        Rounds beyond the last one the engine reached there are ignored, which bounds what a
        Byzantine validator can make us store."""
        prev = self._prev_votes
        if prev is None or v.round > self._prev_max_round:
            return []
        try:
            result = prev.add(v)
        except InvalidMessage as e:
            return [Rejected(e.message)]
        return [ReportEvidence(result.evidence)] if result.evidence is not None else []

    def _ingest(self, msg: Proposal | Vote, acts: list[Action]) -> bool:
        if isinstance(msg, Proposal):
            return self._log.add_proposal(msg, self.round)
        result = self._log.add_vote(msg, self.round)
        if result.evidence is not None:
            acts.append(ReportEvidence(result.evidence))
        return result.added

    # ---- transitions --------------------------------------------------------------------

    def _start_round(self, round_: int, acts: list[Action]) -> None:
        """Line 11: StartRound."""
        self.round, self.step = round_, Step.PROPOSE
        if self._signer is not None and self.validators.proposer(self.height, round_).address == (
            self.address
        ):
            if self.valid_block is not None:
                block, pol = self.valid_block, self.valid_round
            else:
                block, pol = self._get_value(), -1
            self._propose(block, pol, acts)
        self._schedule(Step.PROPOSE, acts)

    def _decide(self, block: bytes, commit: Commit, acts: list[Action]) -> None:
        acts.append(Decide(self.height, block, commit))
        self.last_committed = CommittedBlock(block, commit)
        early = self._next
        self._prev_votes, self._prev_max_round = self._log.votes, max(self.round, commit.round)
        self.height, self.round, self.step = self.height + 1, 0, Step.PROPOSE
        self._new_height()
        for msg in early:
            try:
                self._ingest(msg, acts)
            except InvalidMessage as e:
                acts.append(Rejected(e.message))

    def _schedule(self, kind: Step, acts: list[Action]) -> None:
        duration = self.timeouts.duration(kind, self.round)
        acts.append(ScheduleTimeout(kind, self.height, self.round, duration))

    def _valid(self, p: Proposal) -> bool:
        ok = self._validity.get(p.block_hash)
        if ok is None:
            ok = self._validity[p.block_hash] = bool(self._valid_fn(p.block))
        return ok

    # ---- signing ------------------------------------------------------------------------

    def _lock(self) -> Lock:
        return (self.locked_round, self.locked_block, self.valid_round, self.valid_block)

    def _propose(self, block: bytes, pol_round: int, acts: list[Action]) -> None:
        assert self._signer is not None
        signed = self._signer.proposal(self.height, self.round, pol_round, block, self._lock())
        if isinstance(signed, Rejected):
            acts.append(signed)
            return
        persist, p = signed
        acts += (persist, Broadcast(p))
        self._log.own.append(p)
        self._log.add_proposal(p, self.round)

    def _vote(self, vtype: VoteType, block_hash: bytes, acts: list[Action]) -> None:
        """Sign and send a vote (lines 24/30/40/45/59/63) and move to the vote's step; an
        observer, or a validator whose persisted state forbids the vote, only moves on."""
        if self._signer is not None:
            signed = self._signer.vote(vtype, self.height, self.round, block_hash, self._lock())
            if isinstance(signed, Rejected):
                acts.append(signed)
            else:
                persist, vote = signed
                acts += (persist, Broadcast(vote))
                if vote not in self._log.own:
                    self._log.own.append(vote)
                self._ingest(vote, acts)
        self.step = Step.PREVOTE if vtype == VoteType.PREVOTE else Step.PRECOMMIT
