"""Block sync: a validator that fell behind (it was down, cut off, or missed a round's votes)
pulls the committed blocks it lacks from a peer that is ahead, and serves its own to others.

Every `sync_interval_s` the node asks each peer's `ConsensusService.Status`; when the highest
peer is ahead it streams `ValidatorService.SyncBlocks` from its own height + 1 and hands each
block to `Engine.on_committed_block`, which checks the commit's signatures (2/3+ of the power)
before the node applies the block through the ordinary Decide path. A peer cannot make this
node apply anything the validators did not commit, only withhold blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from stratos.common.logging import get_logger
from stratos.consensus.bft.messages import CommittedBlock, InvalidMessage
from stratos.consensus.bft.wire import commit_from_proto
from stratos.consensus.net.peers import PeerLink, Peers
from stratos.consensus.node.runtime import Node
from stratos.consensus.node.store import Store
from stratos.v1 import bft_pb2, consensus_pb2

log = get_logger(__name__)

DEFAULT_BATCH = 64
MAX_BATCH = 256


class BlockSync:
    def __init__(self, node: Node, peers: Peers, interval_s: float) -> None:
        self.node, self.peers, self.interval_s = node, peers, interval_s

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sync_once()
            except grpc.aio.AioRpcError as err:
                log.debug("block_sync_failed", code=err.code().name, details=err.details())

    async def _peer_height(self, link: PeerLink) -> int:
        try:
            st = await link.consensus.Status(consensus_pb2.StatusRequest(), timeout=1.0)
        except grpc.aio.AioRpcError:
            return -1
        return st.height

    async def sync_once(self) -> None:
        """Catch up with the highest peer, if any peer is ahead."""
        # The peers the node's Network offers: a link it does not use is not synced from either.
        links = [self.peers.link(p) for p in self.node.network.peers()]
        if not links:
            return
        heights = await asyncio.gather(*(self._peer_height(link) for link in links))
        best, link = max(zip(heights, links, strict=True), key=lambda hl: hl[0])
        if best <= self.node.height:
            return
        log.info("block_sync_start", peer=link.address, ours=self.node.height, theirs=best)
        while self.node.height < best and self.node.failed is None:
            if not await self._pull(link):
                break
        log.info("block_sync_done", peer=link.address, height=self.node.height)

    async def _pull(self, link: PeerLink) -> int:
        """Apply one batch from `link`; returns how many blocks were applied."""
        node = self.node
        call = link.validator.SyncBlocks(
            consensus_pb2.SyncBlocksRequest(from_height=node.height + 1, max_blocks=DEFAULT_BATCH),
            timeout=30,
        )
        applied = 0
        async for cb in call:
            try:
                msg = CommittedBlock(cb.block, commit_from_proto(cb.commit))
            except InvalidMessage as err:
                log.warning("block_sync_refused", peer=link.address, reason=str(err))
                break
            if msg.commit.height != node.height + 1:
                break
            node.on_committed_block(msg)
            if node.height != msg.commit.height:
                log.warning("block_sync_refused", peer=link.address, height=msg.commit.height)
                break
            applied += 1
        call.cancel()
        return applied


async def serve_blocks(
    store: Store, from_height: int, max_blocks: int
) -> AsyncIterator[bft_pb2.CommittedBlock]:
    """Committed blocks with their commits, as `SyncBlocks` streams them."""
    count = min(max_blocks or DEFAULT_BATCH, MAX_BATCH)
    last = min(store.latest_height(), max(from_height, 1) + count - 1)
    for h in range(max(from_height, 1), last + 1):
        block, commit = store.get_block(h), store.get_commit(h)
        if block is None or commit is None:
            return
        yield bft_pb2.CommittedBlock(
            block=block.SerializeToString(deterministic=True),
            commit=bft_pb2.Commit.FromString(commit),
        )
