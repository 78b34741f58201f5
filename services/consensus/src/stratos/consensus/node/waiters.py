"""Callers of SubmitTx(wait_for_commit) waiting for their tx: woken by the node when the block
holding it commits, or failed when the mempool drops the tx as no longer valid."""

from __future__ import annotations

import asyncio

from stratos.common.errors import FailedPrecondition
from stratos.consensus.ledger.tx import tx_hash
from stratos.v1 import ledger_pb2

Committed = tuple[int, ledger_pb2.TxResult]  # (height, result)


class TxWaiters:
    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[Committed]]] = {}

    def watch(self, hash_hex: str) -> asyncio.Future[Committed]:
        fut: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(hash_hex, []).append(fut)
        return fut

    def forget(self, hash_hex: str, fut: asyncio.Future[Committed]) -> None:
        futs = self._waiting.get(hash_hex)
        if futs and fut in futs:
            futs.remove(fut)
            if not futs:
                del self._waiting[hash_hex]

    def committed(
        self,
        block: ledger_pb2.Block,
        results: list[ledger_pb2.TxResult],
        height: int,
        dropped: list[str],
    ) -> None:
        for raw, result in zip(block.txs, results, strict=True):
            for fut in self._waiting.pop(tx_hash(raw), []):
                if not fut.done():
                    fut.set_result((height, result))
        for h in dropped:
            for fut in self._waiting.pop(h, []):
                if not fut.done():
                    fut.set_exception(
                        FailedPrecondition(
                            f"the tx was dropped: after block {height} it no longer applies "
                            "(another tx spent the funds or used the nonce)"
                        )
                    )
