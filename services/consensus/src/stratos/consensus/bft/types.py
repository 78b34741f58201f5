"""The engine's vocabulary: its configuration, the state it must persist, and its actions.

The engine is a pure state machine: events go in (`Engine.start/on_*`), a list of actions comes
out, and the node carries them out in order. Order matters for one action: a `Persist` always
precedes the `Broadcast` of the vote it covers, so the node must make it durable before the
vote leaves the process — that is what keeps a validator restarted after SIGKILL from signing
a conflicting vote.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from stratos.common.errors import ConfigError
from stratos.consensus.bft.messages import Commit, Evidence, Message, Vote


class Step(IntEnum):
    """Steps of a round, ordered: a validator never signs at an earlier (height, round, step)."""

    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """Round timeouts in seconds; each grows by `delta` per round so that, once the network is
    timely again, some round lasts long enough for honest validators to agree."""

    propose: float = 3.0  # wait for the proposer's block
    prevote: float = 1.0  # after 2/3+ prevotes for different things, wait for more
    precommit: float = 1.0  # after 2/3+ precommits for different things, wait for more
    delta: float = 0.5  # added to each timeout per round

    def __post_init__(self) -> None:
        for name in ("propose", "prevote", "precommit", "delta"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"consensus timeout {name} must be > 0 seconds")

    def duration(self, kind: Step, round_: int) -> float:
        base = {Step.PROPOSE: self.propose, Step.PREVOTE: self.prevote}.get(kind, self.precommit)
        return base + self.delta * round_


@dataclass(frozen=True, slots=True)
class SignedState:
    """What a validator last signed, and its lock — the durable part of consensus state.

    `height/round/step/block_hash` identify the last signed message (for step PROPOSE,
    block_hash is the proposed block's); `vote` is that vote when the step is a vote step, so a
    restarted validator re-sends the identical bytes rather than signing anew. The lock is the
    safety-critical part of the algorithm: a validator that forgot it could prevote against a
    block an honest quorum may already have precommitted.
    """

    height: int
    round: int
    step: Step
    block_hash: bytes
    vote: Vote | None = None
    locked_round: int = -1
    locked_block: bytes | None = None
    valid_round: int = -1
    valid_block: bytes | None = None

    def permits(self, height: int, round_: int, step: Step, block_hash: bytes) -> bool:
        """True when signing this does not contradict what was signed before."""
        here, last = (height, round_, step), (self.height, self.round, self.step)
        if here != last:
            return here > last
        return block_hash == self.block_hash  # ed25519 is deterministic: same bytes, same sig


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: Message


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Call `Engine.on_timeout(kind, height, round)` after `duration_s` (stale ones are ignored)."""

    kind: Step
    height: int
    round: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class Persist:
    """Make `state` durable before carrying out any later action."""

    state: SignedState


@dataclass(frozen=True, slots=True)
class Decide:
    """`block` is final at `height`; store it with its commit before acting on what follows."""

    height: int
    block: bytes
    commit: Commit


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    """A validator equivocated; the evidence belongs in a block so the ledger can slash it."""

    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input was dropped (bad signature, unknown validator...) or a vote was not signed;
    for the node's logs and peer scoring — the engine has already moved on."""

    reason: str


Action = Broadcast | ScheduleTimeout | Persist | Decide | ReportEvidence | Rejected
