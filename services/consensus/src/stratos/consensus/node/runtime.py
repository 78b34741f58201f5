"""The runtime around one consensus Engine: it feeds the engine events and carries out its
actions, in order, against the world — the Store, the network, the timers, the ledger and the
mempool. The world comes in as ports (`ports.Network`, `ports.Timers`,
`ports.EvidenceReporter`), so the process and the simulator (`tests/bft_sim.py`) run this same
class.

Everything here runs on one thread (the event loop's, or the simulator's), so the engine, the
state and the mempool are never touched concurrently. The one ordering rule that matters for
safety: a `Persist` is fsync'd by `Store.save_signed_state` before the action list goes on, so
no vote leaves the process before the state that covers it is on disk (a validator restarted
after SIGKILL then never signs a conflicting vote).

Block pacing: after a decision the next height starts when the mempool holds a tx (but not
before `propose_delay_s` after the decision, so blocks under load batch more txs), when a
proposal for it arrives, or after `create_empty_blocks_interval_s`, whichever comes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from stratos.common.errors import StratosError
from stratos.common.identity import Identity
from stratos.common.logging import get_logger
from stratos.common.tracing import tracer
from stratos.consensus.bft.engine import Engine
from stratos.consensus.bft.messages import CommittedBlock, Message, Proposal, hash_block
from stratos.consensus.bft.types import (
    Action,
    Broadcast,
    Decide,
    Persist,
    Rejected,
    ReportEvidence,
    ScheduleTimeout,
    Step,
    TimeoutConfig,
)
from stratos.consensus.ledger.apply import apply_block, verify_proposal
from stratos.consensus.ledger.block import make_block
from stratos.consensus.ledger.mempool import Mempool
from stratos.consensus.ledger.state import LedgerState
from stratos.consensus.ledger.tx import address_of
from stratos.consensus.node.codec import (
    commit_to_bytes,
    signed_state_from_row,
    signed_state_to_row,
    validator_set,
    verify_evidence_bytes,
)
from stratos.consensus.node.ports import EvidenceReporter, Network, Timers
from stratos.consensus.node.store import Store
from stratos.consensus.node.waiters import TxWaiters
from stratos.v1 import ledger_pb2

log = get_logger(__name__)
_tracer = tracer(__name__)


@dataclass(frozen=True)
class NodeConfig:
    """The node's knobs (the process takes them from `ConsensusSettings`)."""

    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    propose_delay_s: float = 0.2  # after a commit with txs waiting, start the next height then
    create_empty_blocks_interval_s: float = 1.0  # time between blocks while the mempool is empty
    max_block_txs: int = 2000  # most txs this node proposes per block
    mempool_max_txs: int = 10_000


class Node:
    def __init__(
        self,
        config: NodeConfig,
        identity: Identity,
        store: Store,
        *,
        network: Network,
        timers: Timers,
        evidence: EvidenceReporter,
        on_commit: Callable[[int], object] | None = None,
    ) -> None:
        """`on_commit(height)` is called after each block is stored (the NATS publisher)."""
        state = store.load_state()
        if state is None:
            raise StratosError(f"the store {store.path} holds no genesis state")
        self.config, self.identity, self.store, self.state = config, identity, store, state
        self.network, self.timers, self.evidence = network, timers, evidence
        self.on_commit = on_commit
        self.address = address_of(identity.public_bytes)
        self.validators = validator_set(state)
        self.is_validator = self.address in self.validators
        self.mempool = Mempool(
            state, max_txs=config.mempool_max_txs, verify_evidence=verify_evidence_bytes
        )
        row = store.load_signed_state()
        self.engine = Engine(
            self.validators,
            identity,
            state.chain_id,
            state.height + 1,
            config.timeouts,
            self._get_value,
            self._valid,
            signed_state=signed_state_from_row(row) if row is not None else None,
        )
        self.waiters = TxWaiters()
        self.new_block = asyncio.Event()  # set and replaced at every commit
        self.failed: str | None = None  # why this node stopped committing; the process ends
        self.halted = asyncio.Event()  # set once `failed` is
        self._checked: dict[bytes, tuple[LedgerState, list[ledger_pb2.TxResult]]] = {}
        self._awaiting_start = True  # the current height has not been started yet
        self._not_before = 0.0  # clock time before which a tx does not start the height
        self._start_timer = False  # a start at `_not_before` is already scheduled

    @property
    def height(self) -> int:
        return self.state.height

    def peers_connected(self) -> int:
        return sum(1 for p in self.network.peers() if self.network.is_connected(p))

    # ---- events in ----------------------------------------------------------------------

    def start(self) -> None:
        log.info(
            "node_starting",
            address=self.address,
            role="validator" if self.is_validator else "observer",
            height=self.height,
            chain_id=self.state.chain_id,
            validators=len(self.validators),
        )
        self._begin(self.engine.height)

    def on_message(self, msg: Message) -> None:
        """A consensus message from a peer."""
        if isinstance(msg, Proposal) and msg.height == self.engine.height:
            self._begin(msg.height)  # somebody moved on: no reason to idle
        self._dispatch(self.engine.on_message(msg))

    def on_committed_block(self, cb: CommittedBlock) -> None:
        """A committed block from block sync; applied once the engine checked its commit."""
        self._dispatch(self.engine.on_committed_block(cb))

    def admit_tx(self, raw: bytes, *, relay: bool) -> None:
        """A tx into the mempool (raises the refusal), then, with `relay`, on to the peers."""
        self.mempool.add(raw)
        self._on_tx_added()
        if relay:
            self._relay(raw)

    def admit_relayed(self, txs: Iterable[bytes]) -> None:
        """Txs a peer admitted: each enters the mempool if it can (already here, the pool is
        full, or it no longer applies: skipped); none is relayed onwards."""
        added = False
        for raw in txs:
            try:
                self.mempool.add(raw)
            except StratosError:
                continue
            added = True
        if added:
            self._on_tx_added()

    def gossip(self) -> None:
        """Re-send the round's messages and the last commit (called every gossip interval)."""
        for b in self.engine.gossip():
            self.network.broadcast(b.message)
        if self.engine.last_committed is not None:
            self.network.broadcast(self.engine.last_committed)  # a peer one height behind

    def _on_tx_added(self) -> None:
        if not self._awaiting_start:
            return
        wait = self._not_before - self.timers.now()
        if wait <= 0:
            self.timers.call_later(0, self._begin, self.engine.height)
        elif not self._start_timer:
            self._start_timer = True
            self.timers.call_later(wait, self._begin, self.engine.height)

    def _relay(self, raw: bytes) -> None:
        """Offer a tx to the connected peers' mempools, so whoever proposes next includes it
        (best effort: a peer that misses it gets it from this node's proposal)."""
        for peer in self.network.peers():
            if self.network.is_connected(peer):
                self.network.relay_tx(peer, raw)

    def _begin(self, height: int) -> None:
        if self._awaiting_start and height == self.engine.height:
            self._awaiting_start = False
            self._dispatch(self.engine.start())

    def _timeout(self, kind: Step, height: int, round_: int) -> None:
        self._dispatch(self.engine.on_timeout(kind, height, round_))

    # ---- actions out --------------------------------------------------------------------

    def _dispatch(self, acts: list[Action]) -> None:
        """Carry out the engine's actions in order; a failed Persist keeps every later
        Broadcast of the list in the process (the vote it covered must not leave)."""
        persisted = True
        for a in acts:
            if isinstance(a, Persist):
                try:
                    self.store.save_signed_state(signed_state_to_row(a.state))
                    persisted = True
                except StratosError as err:
                    log.error("persist_failed", error=str(err))
                    persisted = False
            elif isinstance(a, Broadcast):
                if persisted:
                    self.network.broadcast(a.message)
            elif isinstance(a, ScheduleTimeout):
                self.timers.call_later(a.duration_s, self._timeout, a.kind, a.height, a.round)
            elif isinstance(a, Decide):
                self._decide(a)
            elif isinstance(a, ReportEvidence):
                self._report(a)
            elif isinstance(a, Rejected):
                log.debug("consensus_rejected", reason=a.reason)

    def _report(self, a: ReportEvidence) -> None:
        tx = self.evidence.report(a.evidence, self.state, self.mempool.next_nonce(self.address))
        if tx is None:
            return
        try:
            self.admit_tx(tx, relay=True)
        except StratosError as err:
            log.warning("evidence_not_submitted", reason=str(err))
            return
        log.info("evidence_submitted", offender=a.evidence.a.validator)

    def _decide(self, d: Decide) -> None:
        with _tracer.start_as_current_span("commit_block") as span:
            span.set_attribute("stratos.height", d.height)
            block = ledger_pb2.Block.FromString(d.block)
            checked = self._checked.get(hash_block(d.block))
            try:
                if checked is not None:
                    new_state, results = checked
                else:
                    new_state, results, _ = apply_block(
                        self.state, block, verify_evidence=verify_evidence_bytes
                    )
                self.store.commit_block(block, commit_to_bytes(d.commit), results, new_state)
            except StratosError as err:
                # Only possible when more than 1/3 of the power is faulty: stop rather than fork.
                self.failed = f"cannot commit the decided block {d.height}: {err}"
                self.halted.set()
                log.error("commit_failed", height=d.height, error=str(err))
                return
            span.set_attribute("stratos.txs", len(block.txs))
        self.state = new_state
        self._checked.clear()
        dropped = self.mempool.update(new_state, block)
        self.waiters.committed(block, results, d.height, dropped)
        self.new_block.set()
        self.new_block = asyncio.Event()
        log.info(
            "block_committed",
            height=d.height,
            txs=len(block.txs),
            round=d.commit.round,
            hash=new_state.last_block_hash.hex(),
        )
        if self.on_commit is not None:
            self.on_commit(d.height)
        self._awaiting_start = True
        self._not_before = self.timers.now() + self.config.propose_delay_s
        self._start_timer = bool(len(self.mempool))
        delay = (
            self.config.propose_delay_s
            if len(self.mempool)
            else self.config.create_empty_blocks_interval_s
        )
        self.timers.call_later(delay, self._begin, self.engine.height)

    # ---- the engine's callbacks ---------------------------------------------------------

    def _get_value(self) -> bytes:
        txs = self.mempool.reap(
            max_txs=min(self.config.max_block_txs, self.state.params.max_block_txs)
        )
        block = make_block(
            self.state,
            txs,
            time_unix_ms=max(self.timers.wall_ms(), self.state.time_unix_ms + 1),
            proposer=self.address,
        )
        return block.SerializeToString(deterministic=True)

    def _valid(self, raw: bytes) -> bool:
        try:
            block = ledger_pb2.Block.FromString(raw)
            # Stored blocks are re-serialized, so only canonical bytes may be decided.
            if block.SerializeToString(deterministic=True) != raw:
                log.info("proposal_refused", reason="the block is not canonically encoded")
                return False
            new_state, results, _ = verify_proposal(
                self.state, block, verify_evidence=verify_evidence_bytes
            )
        except (DecodeError, StratosError) as err:
            log.info("proposal_refused", height=self.engine.height, reason=str(err))
            return False
        self._checked[hash_block(raw)] = (new_state, results)
        return True
