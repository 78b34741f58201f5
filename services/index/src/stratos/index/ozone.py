"""The index's ozone check: no ticket for a payer who cannot pay (`ozone_rules` has the rules).

`spend(payer, need)` runs before the index signs a payer's tickets — on PlaceChunks for a write,
on GetManifest for a read — so a transfer the payer's ozone cannot cover is refused before any
byte moves (FAILED_PRECONDITION, with what it needs and what the wallet holds). It spends from
this replica's current lease for the payer; when that is short or too old it reads the payer's
ozone on the chain and takes a new lease in the `STRATOS_OZONE` bucket with compare-and-set
(retried on a conflict with another replica). When this replica's window to spend a lease ends,
what it did not spend is given back: with its next lease for the payer, or by `release_idle`,
which the index runs once a minute (it costs one write per payer whose window just ended).

A mesh without a ledger (no `STRATOS_CONSENSUS_ADDRESSES`) has no ozone: nothing is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import nats.errors
import nats.js.errors

from stratos.common.chain_client import Chain
from stratos.common.errors import FailedPrecondition, StratosError, Unavailable
from stratos.common.logging import get_logger
from stratos.common.natsutil import ensure_kv
from stratos.index.ozone_rules import USE_MS, decode, encode, grant, release

log = get_logger(__name__)

OZONE_BUCKET = "STRATOS_OZONE"
CAS_TRIES = 8
RELEASE_EVERY_S = 60.0


@dataclass
class _Local:
    left: int  # ozone of the lease not yet spent by this replica
    use_until_ms: int
    lease_until_ms: int  # names the lease in the bucket (with this replica's ID)


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
        # the lease spent so far is retired: what it has left goes back with the new lease
        prev = self._local.pop(payer, None)
        try:
            held = (await self._chain.account(payer)).account.ozone
        except Unavailable as err:
            log.warning("ledger_unreachable", payer=payer, error=err.message)
            if prev is not None:
                self._local[payer] = prev
            raise Unavailable(
                f"the ledger could not be asked for the ozone of {payer}; try again in a moment"
            ) from None
        for _ in range(CAS_TRIES):
            raw, revision = await self._read(payer)
            now = self._clock()
            leases = self._given_back(decode(raw), prev)
            g = grant(held, leases, holder=self.node_id, need=need, now_ms=now)
            if g.amount == 0:
                if prev is not None and prev.left > 0:
                    await self._write(payer, leases, revision)  # give back what is unspent
                raise FailedPrecondition(
                    f"this transfer needs {need} ozone and the wallet {payer} has "
                    f"{max(0, g.held - g.reserved)} free ({g.held} held, {g.reserved} reserved by "
                    "transfers in flight); buy more with 'stratos ozone buy'"
                )
            if not await self._write(payer, g.leases, revision):
                continue  # another replica leased meanwhile: read again
            until = g.leases[-1].until_ms
            self._local[payer] = _Local(g.amount - need, now + USE_MS, until)
            if len(self._local) > 100_000:
                self._local = {p: x for p, x in self._local.items() if x.use_until_ms > now}
            log.debug("ozone_leased", payer=payer, amount=g.amount, held=held)
            return
        raise Unavailable(f"could not reserve ozone for {payer}: the ozone bucket kept changing")

    async def run(self, interval_s: float = RELEASE_EVERY_S) -> None:
        """Give back idle leases' unspent ozone every `interval_s`, until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.release_idle()
            except (StratosError, nats.errors.Error) as exc:  # the next round tries again
                log.warning("ozone_release_failed", error=str(exc) or repr(exc))

    async def release_idle(self) -> int:
        """Give back the unspent part of every lease whose spending window is over; returns how
        many leases shrank. Costs one bucket write per such lease, none when nothing is idle."""
        now = self._clock()
        idle = [p for p, x in self._local.items() if x.use_until_ms <= now]
        shrunk = 0
        for payer in idle:
            lock = self._locks.setdefault(payer, asyncio.Lock())
            async with lock:
                prev = self._local.get(payer)
                if prev is None or prev.use_until_ms > self._clock():
                    continue  # a new lease was taken meanwhile
                del self._local[payer]
                if prev.left <= 0:
                    continue
                for _ in range(CAS_TRIES):
                    raw, revision = await self._read(payer)
                    if not revision:
                        break
                    if await self._write(payer, self._given_back(decode(raw), prev), revision):
                        shrunk += 1
                        break
        return shrunk

    def _given_back(self, leases, prev: _Local | None):
        if prev is None or prev.left <= 0:
            return leases
        return release(leases, holder=self.node_id, until_ms=prev.lease_until_ms, unspent=prev.left)

    async def _read(self, payer: str) -> tuple[bytes | None, int]:
        try:
            entry = await self._kv.get(payer)
            return entry.value, entry.revision
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None, 0

    async def _write(self, payer: str, leases, revision: int) -> bool:
        """Compare-and-set the payer's leases; False when another writer came first."""
        try:
            if revision:
                await self._kv.update(payer, encode(leases), last=revision)
            else:
                await self._kv.create(payer, encode(leases))
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True
