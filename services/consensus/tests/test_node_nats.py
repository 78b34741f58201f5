"""Committed blocks reach the rest of the mesh: a validator publishes each one, with its tx
results, on NATS `stratos.chain.block` (a real nats-server)."""

from __future__ import annotations

import asyncio

import pytest
from node_support import ALICE, BOB, Cluster, addr, transfer

from stratos.common import natsutil
from stratos.common.testing import nats_server
from stratos.v1 import consensus_pb2

pytestmark = pytest.mark.integration


async def test_committed_blocks_and_their_tx_results_are_published_on_nats(tmp_path) -> None:
    with nats_server() as n:
        nc = await natsutil.connect(n.url, name="test")
        got: asyncio.Queue[consensus_pb2.GetBlockResponse] = asyncio.Queue()

        async def on_block(msg) -> None:
            await got.put(consensus_pb2.GetBlockResponse.FromString(msg.data))

        await nc.subscribe("stratos.chain.block", cb=on_block)
        c = Cluster(tmp_path, 1, env={"STRATOS_NATS_URL": n.url})
        c.start(0)
        try:
            await c.wait_heights(1, timeout_s=30)
            resp = await c.nodes[0].stub.SubmitTx(
                consensus_pb2.SubmitTxRequest(
                    tx=transfer(ALICE, addr(BOB), 5, nonce=0),
                    wait_for_commit=True,
                    timeout_ms=15000,
                )
            )
            assert resp.result.code == 0, resp.result.log

            heights: list[int] = []
            with_tx = None
            async with asyncio.timeout(30):
                while with_tx is None or len(heights) < 3:
                    block = await got.get()
                    heights.append(block.block.header.height)
                    if block.block.header.height == resp.height:
                        with_tx = block
            assert heights == sorted(heights) and len(set(heights)) == len(heights)
            assert len(with_tx.block.txs) >= 1
            assert [r.code for r in with_tx.results.results] == [0] * len(with_tx.block.txs)
            assert with_tx.block_hash  # the same hash Status and GetBlock report
            st = await c.nodes[0].stub.GetBlock(consensus_pb2.GetBlockRequest(height=resp.height))
            assert st.block_hash == with_tx.block_hash
        finally:
            await c.close()
            await nc.close()
