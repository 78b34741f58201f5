"""Which storage nodes the ledger suspended: a node slashed past the chain's threshold (its debt
of failed audits reached a share of its deposit) keeps serving what it holds, but the index
places nothing new on it — not a client's chunks, not a repair's copies — while what it
holds still counts.

Every `interval_s` the index asks the chain for the node record of each storage node it knows
(a node's ledger address is its identity key's) and hands the suspended set to the registry,
whose `candidates` leave them out. A node the chain does not know is not suspended; a chain
that cannot be reached leaves the last answer in place.
"""

from __future__ import annotations

import asyncio
import contextlib

from stratos.common.chain_client import Chain
from stratos.common.errors import StratosError
from stratos.common.identity import address_of
from stratos.common.logging import get_logger
from stratos.index.registry import Registry

log = get_logger(__name__)

INTERVAL_S = 10.0
PARALLEL = 8  # chain calls in flight at once


class Standing:
    def __init__(self, chain: Chain, registry: Registry, interval_s: float = INTERVAL_S) -> None:
        self._chain, self._registry, self.interval_s = chain, registry, interval_s

    async def refresh(self) -> None:
        gate = asyncio.Semaphore(PARALLEL)

        async def suspended(node_id: str, key: bytes) -> str | None:
            if len(key) != 32:
                return None
            async with gate:
                resp = await self._chain.account(address_of(key))
            return node_id if resp.HasField("node") and resp.node.suspended else None

        found = await asyncio.gather(*(suspended(n, k) for n, k in self._registry.node_keys()))
        now = frozenset(n for n in found if n is not None)
        if now != self._registry.suspended:
            log.warning("suspended_nodes", nodes=sorted(now))
        self._registry.suspended = now

    async def run(self) -> None:
        while True:
            with contextlib.suppress(StratosError, TimeoutError):
                await self.refresh()
            await asyncio.sleep(self.interval_s)
