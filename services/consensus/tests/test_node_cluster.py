"""Four validator processes on loopback: blocks commit on one chain, transfers commit, bad txs
are refused at submit and never reach a block, and crash faults behave as Tendermint promises
(1 of 4 down: progress; 2 of 4 down: a halt with a clear error, never a fork)."""

from __future__ import annotations

import grpc
import pytest
from node_support import ALICE, BOB, STOS, Cluster, addr, transfer

from stratos.common.identity import Identity
from stratos.consensus.ledger.tx import tx_hash
from stratos.v1 import consensus_pb2, ledger_pb2

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster(tmp_path):
    c = Cluster(tmp_path, 4)
    c.start_all()
    try:
        yield c
        await c.assert_same_chain()  # whatever the test did, no two validators disagree
    finally:
        await c.close()


async def submit(c: Cluster, i: int, raw: bytes, *, wait: bool, timeout_ms: int = 0):
    return await c.nodes[i].stub.SubmitTx(
        consensus_pb2.SubmitTxRequest(tx=raw, wait_for_commit=wait, timeout_ms=timeout_ms),
        timeout=30,
    )


async def test_four_validators_commit_one_chain_with_transfers_and_refuse_bad_txs(
    cluster: Cluster,
) -> None:
    await cluster.wait_heights(3)
    before = await cluster.balance(0, addr(BOB))
    assert before == 0

    good = transfer(ALICE, addr(BOB), 12 * STOS, nonce=0)
    resp = await submit(cluster, 0, good, wait=True)
    assert resp.height > 0 and resp.result.code == 0, resp
    assert resp.tx_hash == tx_hash(good)

    tampered = ledger_pb2.Tx.FromString(transfer(ALICE, addr(BOB), 1 * STOS, nonce=1))
    tampered.signature = bytes(64)
    bad = {
        "bad signature": (tampered.SerializeToString(), "signature does not match"),
        "wrong nonce": (transfer(ALICE, addr(BOB), STOS, nonce=7), "wrong nonce: expected 1"),
        "insufficient funds": (
            transfer(ALICE, addr(BOB), 5_000 * STOS, nonce=1),
            "insufficient funds",
        ),
        "malformed": (b"\x01not a tx", "malformed"),
        "unknown account": (transfer(Identity.generate(), addr(BOB), STOS, 0), "unknown"),
    }
    for name, (raw, sentence) in bad.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await submit(cluster, 1, raw, wait=True, timeout_ms=2000)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert sentence in err.value.details(), (name, err.value.details())

    # Every validator applied the transfer (the fee went from Alice, the amount to Bob).
    hs = await cluster.wait_heights(resp.height + 2)
    for i in hs:
        assert await cluster.balance(i, addr(BOB)) == 12 * STOS
        assert await cluster.balance(i, addr(ALICE)) == 1_000 * STOS - 12 * STOS - 1_000

    committed = await cluster.committed_tx_hashes(2)
    assert tx_hash(good) in committed
    assert not committed & {tx_hash(raw) for raw, _ in bad.values()}
    assert await cluster.assert_same_chain() >= resp.height + 2

    # Many txs over one SubmitTxs stream: one answer per tx in order; a refusal does not end it.
    streamed = [
        transfer(ALICE, addr(BOB), STOS, nonce=1),
        tampered.SerializeToString(),
        transfer(ALICE, addr(BOB), 2 * STOS, nonce=2),
        b"\x01not a tx",
    ]

    async def requests():
        for raw in streamed:
            yield consensus_pb2.SubmitTxsRequest(tx=raw)

    answers = [a async for a in cluster.nodes[3].stub.SubmitTxs(requests(), timeout=30)]
    assert [a.tx_hash for a in answers] == [tx_hash(raw) for raw in streamed]
    assert [a.code for a in answers] == [0, grpc.StatusCode.INVALID_ARGUMENT.value[0], 0, 3]
    assert "signature does not match" in answers[1].error and "malformed" in answers[3].error
    again = await submit(cluster, 3, streamed[2], wait=True, timeout_ms=10_000)
    assert again.result.code == 0
    await cluster.wait_heights(again.height + 1)
    assert await cluster.balance(1, addr(BOB)) == 15 * STOS


async def test_crashes_one_of_four_keeps_going_two_of_four_halts_without_fork(
    cluster: Cluster,
) -> None:
    await cluster.wait_heights(2)

    # 1 of 4 killed: the other three keep committing.
    cluster.kill(3)
    h = max((await cluster.heights()).values())
    await cluster.wait_heights(h + 3, nodes=[0, 1, 2])

    # Restarted, it catches up by block sync and rejoins the same chain.
    cluster.start(3)
    h = max((await cluster.heights([0, 1, 2])).values())
    await cluster.wait_heights(h + 1, nodes=[0, 1, 2, 3], timeout_s=40)
    await cluster.assert_same_chain()

    # 2 of 4 killed: no quorum, so nothing commits, and a waiting submit says why in time —
    # and that the tx is pending, not failed.
    cluster.kill(2)
    cluster.kill(3)
    stalled = max((await cluster.heights([0, 1])).values())
    tx = transfer(ALICE, addr(BOB), STOS, nonce=0)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await submit(cluster, 0, tx, wait=True, timeout_ms=3000)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert err.value.details() == (
        f"the tx {tx_hash(tx)} is in the mempool but not committed within 3 s: no block has "
        "committed (are enough validators up?); it may still commit (follow it with GetTx)"
    )
    # Two may finish the height they were deciding at the moment of the kill, no more.
    assert max((await cluster.heights([0, 1])).values()) <= stalled + 1

    # One comes back: 3 of 4 is a quorum again, and the pending tx commits.
    cluster.start(2)
    resp = await submit(cluster, 1, tx, wait=True, timeout_ms=30_000)
    assert resp.height > stalled and resp.result.code == 0
    await cluster.wait_heights(resp.height, nodes=[0, 1, 2])
    await cluster.assert_same_chain()  # no fork anywhere, the killed validator's store included
    # the three that run share the chain past the stall (the killed one's store may end a
    # block or two before it: it was killed while the others went on)
    live = [await cluster.block_hashes(i) for i in (0, 1, 2)]
    assert len({c[resp.height] for c in live}) == 1 and resp.height > stalled
