"""A validator cut off from some of its peers, as a wrapper around the node's `Network` port:
nothing is sent or relayed to a blocked peer, it does not count as connected, and block sync
(which syncs only from `Network.peers()`) leaves it alone. Blocking both ends of a link cuts
it both ways.

`BlockedPeersFile` is the process tests' switch: a file of peer addresses, one per line,
re-read at most once a second while the node uses its network; every change is logged as
`test_blocked_peers` with the new set, which is how a test knows the cut is in effect.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stratos.common.logging import get_logger
from stratos.consensus.bft.messages import Message
from stratos.consensus.node.ports import Network

log = get_logger(__name__)


class Partitioned:
    """A `Network` that treats the peers `blocked` names as unreachable."""

    def __init__(self, inner: Network, blocked: Callable[[str], bool]) -> None:
        self.inner, self.blocked = inner, blocked

    def peers(self) -> Sequence[str]:
        return [p for p in self.inner.peers() if not self.blocked(p)]

    def is_connected(self, peer: str) -> bool:
        return not self.blocked(peer) and self.inner.is_connected(peer)

    def send(self, peer: str, msg: Message) -> None:
        if not self.blocked(peer):
            self.inner.send(peer, msg)

    def broadcast(self, msg: Message) -> None:
        for peer in self.peers():
            self.inner.send(peer, msg)

    def relay_tx(self, peer: str, raw: bytes) -> None:
        if not self.blocked(peer):
            self.inner.relay_tx(peer, raw)


class BlockedPeersFile:
    """`blocked(address)` from a file of addresses (a missing file blocks nobody)."""

    def __init__(self, path: Path, reread_s: float = 1.0) -> None:
        self.path, self.reread_s = path, reread_s
        self._blocked: frozenset[str] = frozenset()
        self._read_at = float("-inf")

    def __call__(self, address: str) -> bool:
        now = time.monotonic()
        if now - self._read_at >= self.reread_s:
            self._read_at = now
            try:
                lines = self.path.read_text().split()
            except OSError:
                lines = []
            blocked = frozenset(line.strip() for line in lines if line.strip())
            if blocked != self._blocked:
                log.info("test_blocked_peers", peers=sorted(blocked))
            self._blocked = blocked
        return address in self._blocked
