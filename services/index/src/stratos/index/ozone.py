"""The index's ozone check: no ticket for a payer who cannot pay (`ozone_rules` has the rules).

`spend(payer, need)` runs before the index signs a payer's tickets — on PlaceChunks for a write,
on GetManifest for a read — so a transfer the payer's ozone cannot cover is refused before any
byte moves (FAILED_PRECONDITION, with what it needs and what the wallet holds). It spends from
this replica's current lease for the payer; when that is short or too old it reads the payer's
ozone on the chain and takes a new lease in the `STRATOS_OZONE` bucket with compare-and-set
(retried on a conflict with another replica).

A mesh without a ledger (no `STRATOS_CONSENSUS_ADDRESSES`) has no ozone: nothing is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import nats.js.errors

from stratos.common.chain_client import Chain
from stratos.common.errors import FailedPrecondition, Unavailable
from stratos.common.logging import get_logger
from stratos.common.natsutil import ensure_kv
from stratos.index.ozone_rules import USE_MS, decode, encode, grant

log = get_logger(__name__)

OZONE_BUCKET = "STRATOS_OZONE"
CAS_TRIES = 8


@dataclass
class _Local:
    left: int  # ozone of the lease not yet spent by this replica
    use_until_ms: int


class OzoneGate:
    def __init__(self, kv, chain: Chain, node_id: str, clock_ms: Callable[[], int]) -> None:
        self._kv, self._chain, self.node_id, self._clock = kv, chain, node_id, clock_ms
        self._local: dict[str, _Local] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    async def open(cls, js, chain: Chain, node_id: str, clock_ms, *, replicas: int) -> OzoneGate:
        return cls(await ensure_kv(js, OZONE_BUCKET, replicas=replicas), chain, node_id, clock_ms)

    async def spend(self, payer: str, need: int) -> None:
        """Reserve `need` ozone of `payer`'s, or refuse (FailedPrecondition)."""
        if need <= 0 or not payer:
            return
        if self._take_local(payer, need):
            return
        lock = self._locks.setdefault(payer, asyncio.Lock())
        async with lock:
            if self._take_local(payer, need):  # another call took a lease meanwhile
                return
            await self._lease(payer, need)
        if len(self._locks) > 10_000:  # payers come and go; never grow without bound
            self._locks = {p: lk for p, lk in self._locks.items() if lk.locked()}

    def _take_local(self, payer: str, need: int) -> bool:
        held = self._local.get(payer)
        if held is None or held.left < need or held.use_until_ms <= self._clock():
            return False
        held.left -= need
        return True

    async def _lease(self, payer: str, need: int) -> None:
        try:
            held = (await self._chain.account(payer)).account.ozone
        except Unavailable as err:
            log.warning("ledger_unreachable", payer=payer, error=err.message)
            raise Unavailable(
                f"the ledger could not be asked for the ozone of {payer}; try again in a moment"
            ) from None
        for _ in range(CAS_TRIES):
            try:
                entry = await self._kv.get(payer)
                raw, revision = entry.value, entry.revision
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                raw, revision = None, 0
            now = self._clock()
            g = grant(held, decode(raw), holder=self.node_id, need=need, now_ms=now)
            if g.amount == 0:
                raise FailedPrecondition(
                    f"this transfer needs {need} ozone and the wallet {payer} has "
                    f"{max(0, g.held - g.reserved)} free ({g.held} held, {g.reserved} reserved by "
                    "transfers in flight); buy more with 'stratos ozone buy'"
                )
            try:
                if revision:
                    await self._kv.update(payer, encode(g.leases), last=revision)
                else:
                    await self._kv.create(payer, encode(g.leases))
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another replica leased meanwhile: read again
            self._local[payer] = _Local(g.amount - need, now + USE_MS)
            if len(self._local) > 100_000:
                self._local = {p: x for p, x in self._local.items() if x.use_until_ms > now}
            log.debug("ozone_leased", payer=payer, amount=g.amount, held=held)
            return
        raise Unavailable(f"could not reserve ozone for {payer}: the ozone bucket kept changing")
