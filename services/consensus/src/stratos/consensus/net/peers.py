"""Links to the other validators: one long-lived `ValidatorService.Push` client stream per peer.

Each link owns a bounded queue; when a peer is slow or away the oldest messages are dropped
(the engine's periodic gossip re-sends what still matters), so a dead peer never holds memory
or blocks consensus. A broken stream is re-opened with a capped exponential backoff.

`Peers` is the node's `Network` port (`node.ports`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

import grpc

from stratos.common.grpcutil import CHANNEL_OPTIONS
from stratos.common.lifecycle import Component, cancel_and_wait
from stratos.common.logging import get_logger
from stratos.consensus.bft.messages import Message
from stratos.consensus.bft.wire import to_proto
from stratos.v1 import bft_pb2, consensus_pb2, consensus_pb2_grpc

log = get_logger(__name__)

RELAYED_METADATA = ("stratos-relayed", "1")
# Reconnect quickly to a restarted peer (gRPC's own default backoff grows to 120 s).
PEER_CHANNEL_OPTIONS = [
    *CHANNEL_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
_MAX_BACKOFF_S = 2.0
# Tx relay is batched: txs admitted within this delay (and while a batch is in flight) go to a
# peer in one `RelayTxs` call, instead of one unary call per tx per peer.
RELAY_DELAY_S = 0.05
RELAY_MAX_BATCH = 1000
FINISH_GRACE_S = 1.0  # how long stop() lets each Push stream end by its own close
RELAY_MAX_PENDING = 20_000  # per peer; the oldest drop first (relay is best effort)


class PeerLink:
    def __init__(self, address: str, queue_size: int, credentials: grpc.ChannelCredentials) -> None:
        self.address = address
        # mutual TLS with this validator's own certificate
        self.channel = grpc.aio.secure_channel(address, credentials, options=PEER_CHANNEL_OPTIONS)
        self.validator = consensus_pb2_grpc.ValidatorServiceStub(self.channel)
        self.consensus = consensus_pb2_grpc.ConsensusServiceStub(self.channel)
        self.connected = False
        self.dropped = 0
        self._queue: deque[bft_pb2.ConsensusMessage] = deque(maxlen=queue_size)
        self._wake = asyncio.Event()
        self._relay: deque[bytes] = deque(maxlen=RELAY_MAX_PENDING)
        self._relay_wake = asyncio.Event()
        self._closing = False

    def send(self, m: bft_pb2.ConsensusMessage) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(m)
        self._wake.set()

    async def _messages(self):
        while not self._closing:
            while not self._queue and not self._closing:
                self._wake.clear()
                await self._wake.wait()
            if self._queue and not self._closing:
                yield self._queue.popleft()

    def finish(self) -> None:
        """End the Push stream by closing our side (the peer answers and the call ends), not by
        cancelling it: grpcio's server logs a traceback for a call cancelled before its handler
        started, which a stream opened just before shutdown would be."""
        self._closing = True
        self._wake.set()
        self._relay_wake.set()

    async def run(self) -> None:
        backoff = 0.1
        while not self._closing:
            opened = time.monotonic()
            try:
                await self.channel.channel_ready()
                self.connected = True
                log.info("peer_connected", peer=self.address)
                await self.validator.Push(self._messages())
            except grpc.aio.AioRpcError as err:
                log.debug("peer_stream_failed", peer=self.address, code=err.code().name)
            finally:
                if self.connected:
                    log.info("peer_disconnected", peer=self.address)
                self.connected = False
            if self._closing:
                return
            if time.monotonic() - opened > 5:
                backoff = 0.1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def relay_tx(self, raw: bytes) -> None:
        """Queue a tx for the next `RelayTxs` batch to this peer."""
        self._relay.append(raw)
        self._relay_wake.set()

    async def run_relay(self) -> None:
        """Send queued txs in batches, one call in flight at a time (so batches grow with the
        load); a failed batch is dropped: the peer gets those txs from the proposals."""
        while not self._closing:
            while not self._relay and not self._closing:
                self._relay_wake.clear()
                await self._relay_wake.wait()
            if self._closing:
                return
            await asyncio.sleep(RELAY_DELAY_S)
            batch = [self._relay.popleft() for _ in range(min(len(self._relay), RELAY_MAX_BATCH))]
            if not self.connected:
                continue
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.validator.RelayTxs(consensus_pb2.RelayTxsRequest(txs=batch), timeout=2)


class Peers(Component):
    """Every peer link: the node's `Network`."""

    def __init__(
        self, addresses: tuple[str, ...], queue_size: int, credentials: grpc.ChannelCredentials
    ) -> None:
        self.links = [PeerLink(a, queue_size, credentials) for a in addresses]
        self._by_address = {link.address: link for link in self.links}
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        for link in self.links:
            self._spawn(link.run())
            self._spawn(link.run_relay())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def link(self, peer: str) -> PeerLink:
        return self._by_address[peer]

    # ---- Network ------------------------------------------------------------------------

    def peers(self) -> tuple[str, ...]:
        return tuple(self._by_address)

    def is_connected(self, peer: str) -> bool:
        return self._by_address[peer].connected

    def send(self, peer: str, msg: Message) -> None:
        self._by_address[peer].send(to_proto(msg))

    def broadcast(self, msg: Message) -> None:
        m = to_proto(msg)  # encoded once for every link
        for link in self.links:
            link.send(m)

    def relay_tx(self, peer: str, raw: bytes) -> None:
        self._by_address[peer].relay_tx(raw)

    async def stop(self) -> None:
        for link in self.links:
            link.finish()
        if self._tasks:  # the streams end by their own close, briefly; then anything left is cut
            await asyncio.wait(set(self._tasks), timeout=FINISH_GRACE_S)
        with contextlib.suppress(Exception):  # a link's last error was logged where it happened
            await cancel_and_wait(*self._tasks)
        for link in self.links:
            await link.channel.close()
