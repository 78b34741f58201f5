"""An equivocating validator (`faulty_validator.py --equivocate all`: every vote it sends has a
conflicting twin, which half of its peers get first) among four: the three honest keep
committing on one chain, the evidence lands in a block as a Slash tx, and Status shows the
offender's deposit cut by the slash fraction once per committed offence — the others untouched."""

from __future__ import annotations

import asyncio
import time

import pytest
from node_support import STOS, Cluster, addr

from stratos.consensus.ledger.state import Params
from stratos.v1 import bft_pb2, consensus_pb2, ledger_pb2

pytestmark = pytest.mark.integration

BYZANTINE = 0
HONEST = [1, 2, 3]
DEPOSIT = 100 * STOS  # node_support's genesis deposit of every validator
BPS = Params().slash_fraction_bps


async def slashes(c: Cluster, i: int, heights: range) -> list[tuple[int, str, int, str]]:
    """(height, offender, result code, result log) of every Slash tx in node i's blocks."""
    out = []
    for h in heights:
        resp = await c.nodes[i].stub.GetBlock(consensus_pb2.GetBlockRequest(height=h), timeout=5)
        for raw, result in zip(resp.block.txs, resp.results.results, strict=True):
            body = ledger_pb2.TxBody.FromString(ledger_pb2.Tx.FromString(raw).body)
            if body.WhichOneof("msg") == "slash":
                offender = bft_pb2.Evidence.FromString(body.slash.evidence).a.validator
                out.append((h, offender, result.code, result.log))
    return out


def slashed(deposit: int, times: int) -> int:
    for _ in range(times):
        deposit -= deposit * BPS // 10_000
    return deposit


async def test_an_equivocator_is_slashed_and_honest_validators_never_fork(tmp_path) -> None:
    c = Cluster(tmp_path, 4, faulty=True)
    byz = addr(c.nodes[BYZANTINE].identity)
    c.start(BYZANTINE, equivocate="all")
    for i in HONEST:
        c.start(i)
    try:
        await c.wait_heights(2, nodes=HONEST)

        # The evidence lands: a Slash tx against the equivocator, applied (code 0), in a block.
        deadline, seen, landed = time.monotonic() + 20, 0, []
        while not landed:
            height = (await c.heights([1]))[1]
            found = await slashes(c, 1, range(seen + 1, height + 1))
            seen = height
            landed = [s for s in found if s[2] == 0]
            assert time.monotonic() < deadline, f"no Slash committed by height {height}: {found}"
            await asyncio.sleep(0.3)
        assert all(s[1] == byz for s in landed), landed
        assert "slashed" in landed[0][3], landed

        # The honest validators keep committing, on one chain.
        top = max((await c.heights(HONEST)).values())
        await c.wait_heights(top + 3, nodes=HONEST, timeout_s=20)
        assert await c.assert_same_chain() >= top

        # Status: the deposit is cut once per committed offence, the others keep theirs.
        for i in HONEST:
            st = await c.status(i)
            committed = [s for s in await slashes(c, i, range(1, st.height + 1)) if s[2] == 0]
            assert committed and all(s[1] == byz for s in committed), committed
            deposits = {v.address: v.deposit for v in st.validators}
            assert deposits.pop(byz) == slashed(DEPOSIT, len(committed)) < DEPOSIT
            assert set(deposits.values()) == {DEPOSIT}, deposits
        assert await c.assert_same_chain() >= top + 3
    finally:
        await c.close()
