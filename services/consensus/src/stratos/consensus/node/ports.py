"""What a `Node` needs from the world, as ports it is given at construction: the other
validators (`Network`), time (`Timers`) and what to do with detected equivocation
(`EvidenceReporter`). The process passes the real ones (`net.peers.Peers`, `LoopTimers`,
`evidence.SlashReporter`); the simulator passes simulated ones, and tests wrap `Network` to make
a validator Byzantine or cut it off — so every one of them drives the same `Node`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from stratos.consensus.bft.messages import Evidence, Message
from stratos.consensus.ledger.state import LedgerState


class Network(Protocol):
    """The other validators, best effort: a message may be lost or late, nothing is acked
    (the engine's gossip re-sends what still matters)."""

    def peers(self) -> Sequence[str]:
        """The peers this node may talk to, in a stable order."""
        ...

    def is_connected(self, peer: str) -> bool:
        """Whether a stream to `peer` is open now (for Status and tx relay)."""
        ...

    def send(self, peer: str, msg: Message) -> None:
        """Queue `msg` for one peer."""
        ...

    def broadcast(self, msg: Message) -> None:
        """Queue `msg` for every peer."""
        ...

    def relay_tx(self, peer: str, raw: bytes) -> None:
        """Offer a tx this node admitted to one peer's mempool."""
        ...


class Timers(Protocol):
    """The node's clocks and its one way to act later."""

    def now(self) -> float:
        """Seconds on a monotonic clock (pacing)."""
        ...

    def wall_ms(self) -> int:
        """Unix time in milliseconds (the time a proposed block carries)."""
        ...

    def call_later(self, delay_s: float, fn: Callable[..., object], *args: object) -> None:
        """Call `fn(*args)` after `delay_s` seconds (0: soon, after the current event)."""
        ...


class EvidenceReporter(Protocol):
    """Turns detected equivocation into a tx for the chain; it remembers what it reported."""

    def report(self, evidence: Evidence, state: LedgerState, nonce: int) -> bytes | None:
        """The tx to submit for `evidence` (signed with nonce `nonce`), or None when there is
        nothing to submit: already reported or committed, or this node cannot pay the fee."""
        ...


class LoopTimers:
    """`Timers` on the running asyncio loop and the system clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall_ms(self) -> int:
        return int(time.time() * 1000)

    def call_later(self, delay_s: float, fn: Callable[..., object], *args: object) -> None:
        asyncio.get_running_loop().call_later(delay_s, fn, *args)
