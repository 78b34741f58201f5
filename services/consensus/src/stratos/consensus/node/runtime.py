"""The asyncio runtime around one consensus Engine: it feeds the engine events and carries out
its actions, in order, against the real world — the Store, the peers, the loop's timers, the
ledger and the mempool.

Everything here runs on the event loop thread, so the engine, the state and the mempool are
never touched concurrently. The one ordering rule that matters for safety: a `Persist` is
fsync'd by `Store.save_signed_state` before the action list goes on, so no vote leaves the
process before the state that covers it is on disk (a validator restarted after SIGKILL then
never signs a conflicting vote).

Block pacing: after a decision the next height starts when the mempool holds a tx (but not
before `propose_delay_s` after the decision, so blocks under load batch more txs), when a
proposal for it arrives, or after `create_empty_blocks_interval_s`, whichever comes first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf.message import DecodeError

from stratos.common.errors import StratosError
from stratos.common.identity import Identity
from stratos.common.logging import get_logger
from stratos.common.tracing import tracer
from stratos.consensus.bft.engine import Engine
from stratos.consensus.bft.messages import Message, Proposal, hash_block
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
from stratos.consensus.config import ConsensusSettings
from stratos.consensus.ledger.apply import apply_block, verify_proposal
from stratos.consensus.ledger.block import make_block
from stratos.consensus.ledger.mempool import Mempool
from stratos.consensus.ledger.state import LedgerState
from stratos.consensus.ledger.tx import address_of
from stratos.consensus.node.byzantine import broadcast as byzantine_broadcast
from stratos.consensus.node.byzantine import equivocating_types
from stratos.consensus.node.codec import (
    commit_to_bytes,
    signed_state_from_row,
    signed_state_to_row,
    validator_set,
    verify_evidence_bytes,
)
from stratos.consensus.node.evidence import report_evidence
from stratos.consensus.node.store import Store
from stratos.consensus.node.waiters import TxWaiters
from stratos.v1 import ledger_pb2

log = get_logger(__name__)
_tracer = tracer(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class Node:
    def __init__(self, settings: ConsensusSettings, identity: Identity, store: Store) -> None:
        state = store.load_state()
        if state is None:
            raise StratosError(f"the store {store.path} holds no genesis state")
        self.settings, self.identity, self.store, self.state = settings, identity, store, state
        self.address = address_of(identity.public_bytes)
        self.validators = validator_set(state)
        self.is_validator = self.address in self.validators
        self.mempool = Mempool(
            state, max_txs=settings.mempool_max_txs, verify_evidence=verify_evidence_bytes
        )
        row = store.load_signed_state()
        timeouts = TimeoutConfig(
            propose=settings.timeout_propose_s,
            prevote=settings.timeout_prevote_s,
            precommit=settings.timeout_precommit_s,
            delta=settings.timeout_delta_s,
        )
        self.engine = Engine(
            self.validators,
            identity,
            state.chain_id,
            state.height + 1,
            timeouts,
            self._get_value,
            self._valid,
            signed_state=signed_state_from_row(row) if row is not None else None,
        )
        self.waiters = TxWaiters()
        # Wired by main: the peer links and the NATS publisher.
        self.broadcast: Callable[[Message], None] = lambda _m: None
        self.peer_links: Sequence = ()  # per-peer senders, for the equivocation test hook
        self.relay_tx: Callable[[bytes], None] = lambda _tx: None
        self.publish: Callable[[int], Awaitable[None]] | None = None
        self.peers_connected: Callable[[], int] = lambda: 0
        self.new_block = asyncio.Event()  # set and replaced at every commit
        self.failed: str | None = None
        self._checked: dict[bytes, tuple[LedgerState, list[ledger_pb2.TxResult]]] = {}
        self._reported: set[bytes] = set()
        self._awaiting_start = True  # the current height has not been started yet
        self._not_before = 0.0  # loop time before which a tx does not start the height
        self._start_timer = False  # a start at `_not_before` is already scheduled
        self._tasks: set[asyncio.Task] = set()
        self._equivocate = equivocating_types()  # a test hook: empty unless it is switched on

    @property
    def height(self) -> int:
        return self.state.height

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
        if isinstance(msg, Proposal) and msg.height == self.engine.height:
            self._begin(msg.height)  # somebody moved on: no reason to idle
        self.dispatch(self.engine.on_message(msg))

    def on_tx_added(self) -> None:
        if not self._awaiting_start:
            return
        loop = asyncio.get_running_loop()
        wait = self._not_before - loop.time()
        if wait <= 0:
            loop.call_soon(self._begin, self.engine.height)
        elif not self._start_timer:
            self._start_timer = True
            loop.call_later(wait, self._begin, self.engine.height)

    def gossip(self) -> None:
        for b in self.engine.gossip():
            self.broadcast(b.message)
        if self.engine.last_committed is not None:
            self.broadcast(self.engine.last_committed)  # a peer one height behind catches up

    def _begin(self, height: int) -> None:
        if self._awaiting_start and height == self.engine.height:
            self._awaiting_start = False
            self.dispatch(self.engine.start())

    def _timeout(self, kind: Step, height: int, round_: int) -> None:
        self.dispatch(self.engine.on_timeout(kind, height, round_))

    # ---- actions out --------------------------------------------------------------------

    def dispatch(self, acts: list[Action]) -> None:
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
                if persisted and self._equivocate:
                    byzantine_broadcast(self, a.message, self._equivocate)  # test hook only
                elif persisted:
                    self.broadcast(a.message)
            elif isinstance(a, ScheduleTimeout):
                asyncio.get_running_loop().call_later(
                    a.duration_s, self._timeout, a.kind, a.height, a.round
                )
            elif isinstance(a, Decide):
                self._decide(a)
            elif isinstance(a, ReportEvidence):
                report_evidence(self, a.evidence)
            elif isinstance(a, Rejected):
                log.debug("consensus_rejected", reason=a.reason)

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
        if self.publish is not None:
            task = asyncio.get_running_loop().create_task(self.publish(d.height))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._awaiting_start = True
        loop = asyncio.get_running_loop()
        self._not_before = loop.time() + self.settings.propose_delay_s
        self._start_timer = bool(len(self.mempool))
        delay = (
            self.settings.propose_delay_s
            if len(self.mempool)
            else self.settings.create_empty_blocks_interval_s
        )
        loop.call_later(delay, self._begin, self.engine.height)

    # ---- the engine's callbacks ---------------------------------------------------------

    def _get_value(self) -> bytes:
        txs = self.mempool.reap(
            max_txs=min(self.settings.max_block_txs, self.state.params.max_block_txs)
        )
        block = make_block(
            self.state,
            txs,
            time_unix_ms=max(now_ms(), self.state.time_unix_ms + 1),
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
