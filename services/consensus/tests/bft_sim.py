"""A deterministic discrete-event simulator that runs N consensus engines on one thread.

Everything that is random (keys, delays, drops, blocks) comes from one seeded RNG and time is a
simulated clock driven by a priority queue of deliveries, timeouts, gossip ticks and faults, so
a failing seed replays exactly. The simulated node does what the real node will: carries out
the engine's actions in order (Persist before Broadcast), restarts a crashed validator from its
persisted `SignedState` and its stored blocks, re-sends the engine's gossip set periodically,
and catches up laggards by block sync (a status message answered with committed blocks).

Faults: message delay and jitter, random drops, partitions (links between groups cut for a time
window; checked when a message arrives), crashes (the node neither sends nor receives; its
timers die) and restarts, and Byzantine equivocators that sign two different versions of each
of their proposals and votes and send each version to half of the others.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.identity import Identity
from stratos.consensus.bft.engine import Engine
from stratos.consensus.bft.messages import (
    NIL,
    CommittedBlock,
    Evidence,
    Message,
    Proposal,
    Vote,
    VoteType,
    address_of,
    hash_block,
    sign_proposal,
    sign_vote,
)
from stratos.consensus.bft.types import (
    Action,
    Broadcast,
    Decide,
    Persist,
    Rejected,
    ReportEvidence,
    ScheduleTimeout,
    SignedState,
    Step,
    TimeoutConfig,
)
from stratos.consensus.bft.validators import Validator, ValidatorSet
from stratos.consensus.bft.wire import decode, encode

CHAIN_ID = "stratos-sim"
SYNC_BATCH = 8
# Short timeouts against 5-50 ms links: a round either decides or times out within a second.
SIM_TIMEOUTS = TimeoutConfig(propose=0.3, prevote=0.2, precommit=0.2, delta=0.1)


def make_keys(n: int, seed: int = 0) -> list[Identity]:
    """Deterministic ed25519 identities (tests want stable addresses and proposers)."""
    rng = random.Random(seed)
    return [Identity(Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))) for _ in range(n)]


def make_validator_set(keys: list[Identity], powers: Iterable[int] | None = None) -> ValidatorSet:
    powers = list(powers) if powers is not None else [1] * len(keys)
    return ValidatorSet(
        Validator.from_public_key(k.public_bytes, p) for k, p in zip(keys, powers, strict=True)
    )


@dataclass(frozen=True)
class SimConfig:
    n: int = 4
    powers: tuple[int, ...] | None = None  # default: 1 each
    seed: int = 0
    min_delay: float = 0.005  # seconds, one way
    max_delay: float = 0.05
    drop: float = 0.0  # probability that a message is lost
    gossip_interval: float = 0.5
    timeouts: TimeoutConfig = SIM_TIMEOUTS
    byzantine: frozenset[int] = frozenset()
    down: frozenset[int] = frozenset()  # nodes that start crashed
    max_steps: int = 400_000


@dataclass
class SimNode:
    index: int
    identity: Identity
    address: str
    alive: bool = True
    incarnation: int = 0  # bumped on crash/restart; timers of an old incarnation are void
    engine: Engine | None = None
    persisted: SignedState | None = None  # "on disk": survives crashes
    blocks: dict[int, CommittedBlock] = field(default_factory=dict)  # "on disk"
    proposals_made: int = 0
    rejected: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return max(self.blocks, default=0)


class Sim:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        keys = make_keys(cfg.n, cfg.seed)
        self.nodes = [SimNode(i, k, address_of(k.public_bytes)) for i, k in enumerate(keys)]
        self.validators = make_validator_set(keys, cfg.powers)
        self.now = 0.0
        self.steps = 0
        self._queue: list[tuple[float, int, tuple[Any, ...]]] = []
        self._seq = 0
        self._cuts: list[tuple[float, float, list[frozenset[int]]]] = []
        self.evidence: list[tuple[int, Evidence]] = []
        self.decisions: list[tuple[float, int, int, bytes]] = []  # time, node, height, hash
        self.forks: list[str] = []
        self._twins: dict[bytes, bytes] = {}  # an equivocator's two proposals, both ways
        for nd in self.nodes:
            if nd.index in cfg.down:
                nd.alive = False
            else:
                self._push(0.0, ("boot", nd.index))

    # ---- scenario controls --------------------------------------------------------------

    def crash_at(self, index: int, t: float) -> None:
        self._push(t, ("crash", index))

    def restart_at(self, index: int, t: float) -> None:
        self._push(t, ("restart", index))

    def partition(self, groups: Iterable[Iterable[int]], start: float, end: float) -> None:
        """Cut every link between different groups during [start, end)."""
        self._cuts.append((start, end, [frozenset(g) for g in groups]))

    def run(self, until: Callable[[Sim], bool] | None = None, max_time: float = 60.0) -> bool:
        """Process events up to `max_time` (simulated) or until `until(sim)`; True if met."""
        while self.steps < self.cfg.max_steps:
            if until is not None and until(self):
                return True
            if not self._queue or self._queue[0][0] > max_time:
                self.now = max_time
                break
            t, _, event = heapq.heappop(self._queue)
            self.now = t
            self.steps += 1
            self._handle(event)
        return until is not None and until(self)

    # ---- observations -------------------------------------------------------------------

    def honest(self) -> list[SimNode]:
        return [nd for nd in self.nodes if nd.index not in self.cfg.byzantine]

    def min_height(self, nodes: Iterable[SimNode] | None = None) -> int:
        """The lowest committed height among `nodes` (default: honest live nodes)."""
        pool = list(nodes) if nodes is not None else [n for n in self.honest() if n.alive]
        return min((nd.height for nd in pool), default=0)

    def max_height(self) -> int:
        return max(nd.height for nd in self.nodes)

    def decided_between(self, start: float, end: float) -> list[tuple[float, int, int, bytes]]:
        return [d for d in self.decisions if start <= d[0] < end]

    def assert_no_fork(self) -> None:
        """Every node that decided a height decided the same block there."""
        assert not self.forks, self.forks
        by_height: dict[int, set[bytes]] = {}
        for nd in self.nodes:
            for h, cb in nd.blocks.items():
                by_height.setdefault(h, set()).add(cb.commit.block_hash)
        forked = {h: len(s) for h, s in by_height.items() if len(s) > 1}
        assert not forked, f"fork at heights {forked}"

    # ---- machinery ----------------------------------------------------------------------

    def _push(self, t: float, event: tuple[Any, ...]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, event))

    def _cut(self, a: int, b: int) -> bool:
        for start, end, groups in self._cuts:
            if start <= self.now < end:
                ga = next((g for g in groups if a in g), None)
                gb = next((g for g in groups if b in g), None)
                if ga is not gb:
                    return True
        return False

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind, idx = event[0], event[1]
        nd = self.nodes[idx]
        if kind in ("boot", "restart"):
            self._boot(nd)
        elif kind == "crash":
            nd.alive, nd.engine = False, None
            nd.incarnation += 1
        elif not nd.alive or (kind != "deliver" and event[2] != nd.incarnation):
            return
        elif kind == "deliver":
            if not self._cut(event[2], idx):
                self._deliver(nd, event[2], event[3])
        elif kind == "timeout":
            _, _, _, tkind, h, r = event
            self._apply(nd, nd.engine.on_timeout(tkind, h, r))
        elif kind == "start":
            self._apply(nd, nd.engine.start())
        elif kind == "gossip":
            for b in nd.engine.gossip():
                self._send(nd, b.message)
            for peer in self.nodes:
                if peer is not nd:
                    self._transmit(nd.index, peer.index, ("status", nd.height))
            self._push(self.now + self.cfg.gossip_interval, ("gossip", idx, nd.incarnation))

    def _boot(self, nd: SimNode) -> None:
        nd.alive = True
        nd.incarnation += 1
        counter = [0]

        def get_value() -> bytes:
            counter[0] += 1
            h = nd.engine.height if nd.engine else 0
            return f"blk|h={h}|by={nd.index}|n={counter[0]}|".encode() + self.rng.randbytes(8)

        nd.engine = Engine(
            self.validators,
            nd.identity,
            CHAIN_ID,
            nd.height + 1,
            self.cfg.timeouts,
            get_value,
            lambda block: block.startswith(b"blk|"),
            signed_state=nd.persisted,
        )
        self._apply(nd, nd.engine.start())
        self._push(self.now + self.cfg.gossip_interval, ("gossip", nd.index, nd.incarnation))

    def _deliver(self, nd: SimNode, src: int, payload: Any) -> None:
        if payload[0] == "msg":
            self._apply(nd, nd.engine.on_message(decode(payload[1])))
        elif payload[0] == "status":
            # Block sync: a peer behind us gets the next committed blocks it lacks.
            their = payload[1]
            batch = [
                encode(nd.blocks[h])
                for h in range(their + 1, their + 1 + SYNC_BATCH)
                if h in nd.blocks
            ]
            if batch:
                self._transmit(nd.index, src, ("sync", batch))
        elif payload[0] == "sync":
            for raw in payload[1]:
                msg = decode(raw)
                assert isinstance(msg, CommittedBlock)
                self._apply(nd, nd.engine.on_committed_block(msg))

    def _apply(self, nd: SimNode, acts: list[Action]) -> None:
        for a in acts:
            if isinstance(a, Persist):
                nd.persisted = a.state
            elif isinstance(a, Broadcast):
                self._check_persisted(nd, a.message)
                self._send(nd, a.message)
            elif isinstance(a, ScheduleTimeout):
                self._push(
                    self.now + a.duration_s,
                    ("timeout", nd.index, nd.incarnation, a.kind, a.height, a.round),
                )
            elif isinstance(a, Decide):
                self._record(nd, a)
                self._push(self.now, ("start", nd.index, nd.incarnation))
            elif isinstance(a, ReportEvidence):
                self.evidence.append((nd.index, a.evidence))
            elif isinstance(a, Rejected):
                nd.rejected.append(a.reason)

    @staticmethod
    def _check_persisted(nd: SimNode, msg: Message) -> None:
        """The node's own vote never leaves before a state covering it is on disk."""
        if isinstance(msg, Vote) and msg.validator == nd.address:
            st = nd.persisted
            step = Step.PREVOTE if msg.type == VoteType.PREVOTE else Step.PRECOMMIT
            assert st is not None and (st.height, st.round, st.step) >= (
                msg.height,
                msg.round,
                step,
            ), "a vote was broadcast before its signed state was persisted"

    def _record(self, nd: SimNode, d: Decide) -> None:
        assert d.height == nd.height + 1, "decisions must be in height order"
        nd.blocks[d.height] = CommittedBlock(d.block, d.commit)
        block_hash = d.commit.block_hash
        self.decisions.append((self.now, nd.index, d.height, block_hash))
        for other in self.nodes:
            cb = other.blocks.get(d.height)
            if cb is not None and cb.commit.block_hash != block_hash:
                self.forks.append(f"height {d.height}: node {nd.index} vs node {other.index}")

    def _send(self, nd: SimNode, msg: Message) -> None:
        others = [p.index for p in self.nodes if p is not nd]
        if nd.index in self.cfg.byzantine and self._own(nd, msg):
            half = len(others) // 2
            twin = self._twin(nd, msg)
            for dst in others[:half]:
                self._transmit(nd.index, dst, ("msg", encode(msg)))
            for dst in others[half:]:
                self._transmit(nd.index, dst, ("msg", encode(twin)))
            return
        raw = encode(msg)
        for dst in others:
            self._transmit(nd.index, dst, ("msg", raw))

    @staticmethod
    def _own(nd: SimNode, msg: Message) -> bool:
        return (isinstance(msg, Vote) and msg.validator == nd.address) or (
            isinstance(msg, Proposal) and msg.proposer == nd.address
        )

    def _twin(self, nd: SimNode, msg: Message) -> Message:
        """The equivocator's second version of its own message (deterministic per message)."""
        if isinstance(msg, Vote):
            # A vote for a block goes out as a vote for its twin proposal (or nil); a nil vote
            # as a vote for a block nobody has.
            if msg.block_hash:
                other = self._twins.get(msg.block_hash, NIL)
            else:
                other = hash_block(f"blk|evil|{msg.height}|{msg.round}".encode())
            return sign_vote(nd.identity, CHAIN_ID, msg.type, msg.height, msg.round, other)
        assert isinstance(msg, Proposal)
        twin = sign_proposal(
            nd.identity, CHAIN_ID, msg.height, msg.round, msg.pol_round, msg.block + b"|evil"
        )
        self._twins[msg.block_hash], self._twins[twin.block_hash] = twin.block_hash, msg.block_hash
        return twin

    def _transmit(self, src: int, dst: int, payload: tuple[Any, ...]) -> None:
        if self.rng.random() < self.cfg.drop:
            return
        delay = self.rng.uniform(self.cfg.min_delay, self.cfg.max_delay)
        self._push(self.now + delay, ("deliver", dst, src, payload))
