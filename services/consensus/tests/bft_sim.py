"""A deterministic discrete-event simulator that runs N real validator nodes on one thread.

Each simulated validator is the `Node` that ships (`stratos.consensus.node`): the real engine,
ledger, mempool and block store (SQLite under a directory the caller gives), driven through
simulated ports — a `SimNetwork` that delivers encoded messages after a random delay, and
`SimTimers` on a simulated clock. Everything random (keys, delays, drops, an equivocator's
twins) comes from one seeded RNG and time is a priority queue of deliveries, timer calls,
gossip ticks and faults, so a failing seed replays exactly.

What the process does around the node, the simulator does too: it calls `Node.gossip` every
`gossip_interval`, and catches laggards up by block sync (a status message answered with
committed blocks read from the store, handed to `Node.on_committed_block`). A crashed
validator neither sends nor receives and its timers die; a restart builds a new `Node` on the
same store, as the process does after SIGKILL.

Faults: message delay and jitter, random drops, partitions (links between groups cut for a time
window; checked when a message arrives), crashes and restarts, and Byzantine equivocators —
the same `byzantine.Equivocating` network wrapper the process tests use, here signing two
versions of each of their proposals and votes and sending each version to half of the others.
Their evidence goes through the real `SlashReporter`, so Slash txs commit and cut deposits.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byzantine import Equivocating
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.identity import Identity
from stratos.consensus.bft.messages import (
    CommittedBlock,
    Evidence,
    Message,
    Vote,
    VoteType,
    address_of,
)
from stratos.consensus.bft.types import Step, TimeoutConfig
from stratos.consensus.bft.validators import Validator, ValidatorSet
from stratos.consensus.bft.wire import decode, encode
from stratos.consensus.ledger.genesis import Genesis, GenesisValidator
from stratos.consensus.ledger.state import LedgerState, Params
from stratos.consensus.node import Node
from stratos.consensus.node.codec import commit_from_bytes
from stratos.consensus.node.evidence import SlashReporter
from stratos.consensus.node.ports import EvidenceReporter, Network
from stratos.consensus.node.runtime import NodeConfig
from stratos.consensus.node.store import Store

CHAIN_ID = "stratos-sim"
GENESIS_MS = 1_700_000_000_000
STOS = 10**9
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


def make_genesis(keys: list[Identity], powers: Iterable[int] | None = None) -> LedgerState:
    """Every validator funded (so it can pay for the Slash txs it submits) and bonded."""
    powers = list(powers) if powers is not None else [1] * len(keys)
    return Genesis(
        chain_id=CHAIN_ID,
        genesis_time_unix_ms=GENESIS_MS,
        accounts=tuple((address_of(k.public_bytes), 10 * STOS) for k in keys),
        validators=tuple(
            GenesisValidator(k.public_bytes, power=p, deposit=100 * STOS)
            for k, p in zip(keys, powers, strict=True)
        ),
        params=Params(min_fee=1_000),
    ).initial_state()


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


class SimNode:
    """One validator: its key, its store (the "disk", which survives crashes) and, while it
    runs, its `Node`."""

    def __init__(self, index: int, identity: Identity, store: Store) -> None:
        self.index, self.identity, self.store = index, identity, store
        self.address = address_of(identity.public_bytes)
        self.node: Node | None = None
        self.incarnation = 0  # bumped on crash/restart; timers of an old incarnation are void

    @property
    def alive(self) -> bool:
        return self.node is not None

    @property
    def height(self) -> int:
        """The committed height (the running node's state is the store's latest)."""
        return self.node.height if self.node is not None else self.store.latest_height()

    @property
    def blocks(self) -> dict[int, CommittedBlock]:
        """Every committed block, as the store holds it."""
        return {h: committed_block(self.store, h) for h in range(1, self.height + 1)}


def committed_block(store: Store, height: int) -> CommittedBlock:
    block, commit = store.get_block(height), store.get_commit(height)
    assert block is not None and commit is not None, f"block {height} is not stored"
    return CommittedBlock(block.SerializeToString(deterministic=True), commit_from_bytes(commit))


class SimNetwork:
    """The `Network` of node `index`: peers are the other nodes' indexes, as strings."""

    def __init__(self, sim: Sim, index: int) -> None:
        self.sim, self.index = sim, index
        self._peers = [str(j) for j in range(sim.cfg.n) if j != index]

    def peers(self) -> Sequence[str]:
        return self._peers

    def is_connected(self, peer: str) -> bool:
        j = int(peer)
        return self.sim.nodes[j].alive and not self.sim.cut(self.index, j)

    def send(self, peer: str, msg: Message) -> None:
        self.sim.transmit(self.index, int(peer), ("msg", encode(msg)))

    def broadcast(self, msg: Message) -> None:
        raw = encode(msg)
        for peer in self._peers:
            self.sim.transmit(self.index, int(peer), ("msg", raw))

    def relay_tx(self, peer: str, raw: bytes) -> None:
        self.sim.transmit(self.index, int(peer), ("tx", raw))


class PersistedFirst:
    """Checks, in front of the network, that the node's own vote never leaves before a signed
    state covering it is in its store (a Byzantine wrapper's twins come after this check)."""

    def __init__(self, inner: Network, nd: SimNode) -> None:
        self.inner, self.nd = inner, nd

    def peers(self) -> Sequence[str]:
        return self.inner.peers()

    def is_connected(self, peer: str) -> bool:
        return self.inner.is_connected(peer)

    def send(self, peer: str, msg: Message) -> None:
        self._check(msg)
        self.inner.send(peer, msg)

    def broadcast(self, msg: Message) -> None:
        self._check(msg)
        self.inner.broadcast(msg)

    def relay_tx(self, peer: str, raw: bytes) -> None:
        self.inner.relay_tx(peer, raw)

    def _check(self, msg: Message) -> None:
        if isinstance(msg, Vote) and msg.validator == self.nd.address:
            st = self.nd.store.load_signed_state()
            step = Step.PREVOTE if msg.type == VoteType.PREVOTE else Step.PRECOMMIT
            assert st is not None and st.hrs >= (msg.height, msg.round, step), (
                "a vote was broadcast before its signed state was persisted"
            )


class SimTimers:
    """The `Timers` of one incarnation of a node: simulated time; its calls die with it."""

    def __init__(self, sim: Sim, nd: SimNode) -> None:
        self.sim, self.index, self.incarnation = sim, nd.index, nd.incarnation

    def now(self) -> float:
        return self.sim.now

    def wall_ms(self) -> int:
        return GENESIS_MS + round(self.sim.now * 1000)

    def call_later(self, delay_s: float, fn: Callable[..., object], *args: object) -> None:
        self.sim.push(self.sim.now + delay_s, ("call", self.index, self.incarnation, fn, args))


class RecordingReporter:
    """The real `SlashReporter`, with every report noted in `sim.evidence`."""

    def __init__(self, sim: Sim, index: int, inner: EvidenceReporter) -> None:
        self.sim, self.index, self.inner = sim, index, inner

    def report(self, evidence: Evidence, state: LedgerState, nonce: int) -> bytes | None:
        self.sim.evidence.append((self.index, evidence))
        return self.inner.report(evidence, state, nonce)


class Sim:
    def __init__(self, cfg: SimConfig, root: Path) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        keys = make_keys(cfg.n, cfg.seed)
        self.validators = make_validator_set(keys, cfg.powers)
        genesis = make_genesis(keys, cfg.powers)
        self.nodes: list[SimNode] = []
        for i, k in enumerate(keys):
            store = Store(root / f"validator-{i}" / "chain.sqlite")
            store.save_genesis(genesis)
            self.nodes.append(SimNode(i, k, store))
        self.node_config = NodeConfig(
            timeouts=cfg.timeouts, propose_delay_s=0.0, create_empty_blocks_interval_s=0.0
        )
        self.now = 0.0
        self.steps = 0
        self._queue: list[tuple[float, int, tuple[Any, ...]]] = []
        self._seq = 0
        self._cuts: list[tuple[float, float, list[frozenset[int]]]] = []
        self.evidence: list[tuple[int, Evidence]] = []
        self.decisions: list[tuple[float, int, int, bytes]] = []  # time, node, height, hash
        self.forks: list[str] = []
        self._decided: dict[int, tuple[int, bytes]] = {}  # height → (first node, block hash)
        for nd in self.nodes:
            if nd.index not in cfg.down:
                self.push(0.0, ("boot", nd.index))

    def close(self) -> None:
        for nd in self.nodes:
            nd.node = None
            nd.store.close()

    # ---- scenario controls --------------------------------------------------------------

    def crash_at(self, index: int, t: float) -> None:
        self.push(t, ("crash", index))

    def restart_at(self, index: int, t: float) -> None:
        self.push(t, ("restart", index))

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
        """Every node that decided a height decided the same block there (and none had to stop
        because a decided block would not apply)."""
        assert not self.forks, self.forks
        failed = {nd.index: nd.node.failed for nd in self.nodes if nd.node and nd.node.failed}
        assert not failed, failed
        by_height: dict[int, set[bytes]] = {}
        for nd in self.nodes:
            for h, cb in nd.blocks.items():
                by_height.setdefault(h, set()).add(cb.commit.block_hash)
        forked = {h: len(s) for h, s in by_height.items() if len(s) > 1}
        assert not forked, f"fork at heights {forked}"

    # ---- machinery ----------------------------------------------------------------------

    def push(self, t: float, event: tuple[Any, ...]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, event))

    def cut(self, a: int, b: int) -> bool:
        for start, end, groups in self._cuts:
            if start <= self.now < end:
                ga = next((g for g in groups if a in g), None)
                gb = next((g for g in groups if b in g), None)
                if ga is not gb:
                    return True
        return False

    def transmit(self, src: int, dst: int, payload: tuple[Any, ...]) -> None:
        if self.rng.random() < self.cfg.drop:
            return
        delay = self.rng.uniform(self.cfg.min_delay, self.cfg.max_delay)
        self.push(self.now + delay, ("deliver", dst, src, payload))

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind, idx = event[0], event[1]
        nd = self.nodes[idx]
        if kind in ("boot", "restart"):
            self._boot(nd)
        elif kind == "crash":
            nd.node = None
            nd.incarnation += 1
        elif nd.node is None or (kind != "deliver" and event[2] != nd.incarnation):
            return
        elif kind == "deliver":
            if not self.cut(event[2], idx):
                self._deliver(nd, nd.node, event[2], event[3])
        elif kind == "call":
            _, _, _, fn, args = event
            fn(*args)
        elif kind == "gossip":
            nd.node.gossip()
            for peer in self.nodes:
                if peer is not nd:
                    self.transmit(nd.index, peer.index, ("status", nd.height))
            self.push(self.now + self.cfg.gossip_interval, ("gossip", idx, nd.incarnation))

    def _boot(self, nd: SimNode) -> None:
        nd.incarnation += 1
        network: Network = SimNetwork(self, nd.index)
        if nd.index in self.cfg.byzantine:
            network = Equivocating(
                network,
                nd.identity,
                CHAIN_ID,
                proposals=True,
                random_hash=lambda: self.rng.randbytes(32),
            )
        nd.node = Node(
            self.node_config,
            nd.identity,
            nd.store,
            network=PersistedFirst(network, nd),
            timers=SimTimers(self, nd),
            evidence=RecordingReporter(self, nd.index, SlashReporter(nd.identity)),
            on_commit=lambda height, i=nd.index: self._record(i, height),
        )
        nd.node.start()
        self.push(self.now + self.cfg.gossip_interval, ("gossip", nd.index, nd.incarnation))

    def _deliver(self, nd: SimNode, node: Node, src: int, payload: Any) -> None:
        if payload[0] == "msg":
            node.on_message(decode(payload[1]))
        elif payload[0] == "tx":
            node.admit_relayed([payload[1]])
        elif payload[0] == "status":
            # Block sync: a peer behind us gets the next committed blocks it lacks.
            their = payload[1]
            top = min(nd.height, their + SYNC_BATCH)
            batch = [encode(committed_block(nd.store, h)) for h in range(their + 1, top + 1)]
            if batch:
                self.transmit(nd.index, src, ("sync", batch))
        elif payload[0] == "sync":
            for raw in payload[1]:
                msg = decode(raw)
                assert isinstance(msg, CommittedBlock)
                node.on_committed_block(msg)

    def _record(self, index: int, height: int) -> None:
        nd = self.nodes[index]
        commit = nd.store.get_commit(height)
        assert commit is not None
        block_hash = commit_from_bytes(commit).block_hash
        self.decisions.append((self.now, index, height, block_hash))
        first = self._decided.setdefault(height, (index, block_hash))
        if first[1] != block_hash:
            self.forks.append(f"height {height}: node {index} vs node {first[0]}")
