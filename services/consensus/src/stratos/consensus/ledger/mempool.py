"""The mempool: txs waiting for a block.

A tx enters only if it would apply right now on top of the committed state *and* the txs already
pending (so a sender can queue nonces n, n+1, n+2 and each is checked for funds after the ones
before it). Pending txs are kept in arrival order, which is nonce order per sender because a tx
with a gap in its nonce is refused. After each committed block the included txs leave and the
rest are re-checked against the new state (signatures are not re-verified: they cannot change).

A tx that fails that re-check is dropped, and the pool remembers why (bounded, newest kept), so
whoever follows the tx learns it will never commit instead of finding it simply gone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from stratos.common.errors import AlreadyExists, InvalidArgument, ResourceExhausted
from stratos.consensus.ledger.apply import execute_tx
from stratos.consensus.ledger.msgs import Ctx, EvidenceVerifier
from stratos.consensus.ledger.overlay import Working
from stratos.consensus.ledger.state import LedgerState
from stratos.consensus.ledger.tx import TxCode, tx_hash
from stratos.v1 import ledger_pb2 as pb


class TxRefused(InvalidArgument):
    """check_tx refused the tx; `code` says which rule (TxCode)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = TxCode(code)


@dataclass(frozen=True)
class _Entry:
    raw: bytes
    sender: str


@dataclass(frozen=True)
class Dropped:
    """A pending tx that stopped applying after the block at `height`; `result` says why."""

    height: int
    result: pb.TxResult


DROPPED_REMEMBERED = 4_096  # hashes of dropped txs kept (about 1 MiB), oldest forgotten first


class Mempool:
    """Pending txs over a committed `state`; safe to call from several threads."""

    def __init__(
        self,
        state: LedgerState,
        *,
        max_txs: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        verify_evidence: EvidenceVerifier | None = None,
    ) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._verify_evidence = verify_evidence
        self._lock = threading.Lock()
        self._txs: dict[str, _Entry] = {}  # tx hash → entry, in arrival order
        self._bytes = 0
        self._dropped: OrderedDict[str, Dropped] = OrderedDict()
        self._reset(state)

    def _reset(self, state: LedgerState) -> None:
        self._state = state
        self._check = Working(state)  # committed state + every pending tx, applied in order
        self._ctx = Ctx(state.height + 1, state.params, self._verify_evidence)

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, hash_hex: str) -> bool:
        return hash_hex in self._txs

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, hash_hex: str) -> bytes | None:
        """The pending tx with this hash."""
        with self._lock:
            entry = self._txs.get(hash_hex)
        return None if entry is None else entry.raw

    def dropped(self, hash_hex: str) -> Dropped | None:
        """Why the tx with this hash left the pool without committing, if it did lately."""
        with self._lock:
            return self._dropped.get(hash_hex)

    def next_nonce(self, address: str) -> int:
        """The nonce `address`'s next tx must carry to enter this pool: its committed nonce
        plus its txs pending here (the pool admits a sender's txs only without gaps)."""
        with self._lock:
            acct = self._check.account(address)
            return 0 if acct is None else acct.nonce

    def add(self, raw: bytes) -> str:
        """Admit a tx; returns its hash. Raises AlreadyExists (a duplicate), ResourceExhausted
        (the pool is full) or TxRefused (check_tx's reason)."""
        h = tx_hash(raw)
        with self._lock:
            if h in self._txs:
                raise AlreadyExists(f"the tx {h} is already waiting in the mempool")
            if len(self._txs) >= self.max_txs or self._bytes + len(raw) > self.max_bytes:
                raise ResourceExhausted(
                    f"the mempool is full ({len(self._txs)} txs, {self._bytes} bytes); "
                    "try again after the next block"
                )
            result, d = execute_tx(self._check, self._ctx, raw, charge_failed=False)
            if result.code != TxCode.OK:
                raise TxRefused(result.code, result.log)
            self._txs[h] = _Entry(raw, d.sender)
            self._bytes += len(raw)
            self._dropped.pop(h, None)  # it applies again (funds arrived): no longer dropped
            return h

    def reap(self, max_txs: int | None = None, max_bytes: int | None = None) -> list[bytes]:
        """Txs for the next block (default limits: the chain's block limits): the longest
        prefix of the arrival order that fits. Never skipping keeps every reaped tx valid: each
        was checked after all earlier ones, and may depend on them (its nonce, or funds an
        earlier tx sent it)."""
        with self._lock:
            params = self._state.params
            max_txs = params.max_block_txs if max_txs is None else max_txs
            room = params.max_block_bytes if max_bytes is None else max_bytes
            out: list[bytes] = []
            for entry in self._txs.values():
                if len(out) >= max_txs or len(entry.raw) > room:
                    break
                out.append(entry.raw)
                room -= len(entry.raw)
            return out

    def update(self, state: LedgerState, block: pb.Block) -> list[str]:
        """The block at `state.height` committed: drop its txs, re-check the rest against
        `state`, and return the hashes of pending txs that became invalid and were dropped."""
        with self._lock:
            for raw in block.txs:
                entry = self._txs.pop(tx_hash(raw), None)
                if entry is not None:
                    self._bytes -= len(entry.raw)
            self._reset(state)
            dropped: list[str] = []
            for h, entry in list(self._txs.items()):
                result, _ = execute_tx(
                    self._check, self._ctx, entry.raw, charge_failed=False, verify_sig=False
                )
                if result.code != TxCode.OK:
                    del self._txs[h]
                    self._bytes -= len(entry.raw)
                    dropped.append(h)
                    self._dropped[h] = Dropped(state.height, result)
            while len(self._dropped) > DROPPED_REMEMBERED:
                self._dropped.popitem(last=False)
            return dropped
