"""The index's ozone gate (stratos.index.ozone) on a real nats-server's STRATOS_OZONE bucket:
two index replicas lease one payer's ozone without promising it twice, and a lease whose
spending window ended gives back what no ticket took — so the ozone is free again for the
other replica, long before the lease's hour would have run out."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from stratos.common import natsutil
from stratos.common.errors import FailedPrecondition
from stratos.index.ozone import OzoneGate
from stratos.index.ozone_rules import USE_MS, decode

pytestmark = pytest.mark.integration

MiB, GiB = 1 << 20, 1 << 30
PAYER = "ab" * 20


class FakeChain:
    """The ledger as the gate asks it: a payer's ozone."""

    def __init__(self, ozone: int) -> None:
        self.ozone = ozone

    async def account(self, address: str):
        return SimpleNamespace(account=SimpleNamespace(ozone=self.ozone))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


async def leased(gate: OzoneGate) -> list[int]:
    entry = await gate._kv.get(PAYER)
    return [x.amount for x in decode(entry.value)]


async def test_an_idle_lease_gives_back_what_no_ticket_took(nats) -> None:
    nc = await natsutil.connect(nats.url, name="ozone")
    try:
        chain, clock = FakeChain(GiB), Clock()
        one = await OzoneGate.open(nc.jetstream(), chain, "index-1", clock, replicas=1)
        two = await OzoneGate.open(nc.jetstream(), chain, "index-2", clock, replicas=1)
        await one.spend(PAYER, MiB)
        assert await leased(one) == [GiB // 8]  # a slice, so the next small file costs no write
        await one.spend(PAYER, MiB)  # from the slice: no new lease
        assert await leased(one) == [GiB // 8]

        # the other replica cannot have what the first one leased...
        with pytest.raises(FailedPrecondition) as refused:
            await two.spend(PAYER, GiB - 2 * MiB)
        assert (
            f"has {GiB - GiB // 8} free ({GiB} held, {GiB // 8} reserved" in refused.value.message
        )
        assert await one.release_idle() == 0  # still in its window: nothing to give back

        # ...until the first one's window ends and it gives back the unspent part
        clock.now += USE_MS
        assert await one.release_idle() == 1
        assert await leased(one) == [2 * MiB]  # only what its tickets took stays reserved
        assert await one.release_idle() == 0  # once
        await two.spend(PAYER, GiB - 2 * MiB)
        assert sorted(await leased(one)) == [2 * MiB, GiB - 2 * MiB]
        with pytest.raises(FailedPrecondition):
            await one.spend(PAYER, 1)  # every byte of the payer's ozone is promised
    finally:
        await nc.close()


async def test_a_new_lease_gives_back_the_last_ones_unspent_part(nats) -> None:
    nc = await natsutil.connect(nats.url, name="ozone")
    try:
        clock = Clock()
        gate = await OzoneGate.open(
            nc.jetstream(), FakeChain(8 * GiB), "index-1", clock, replicas=1
        )
        await gate.spend(PAYER, 3 * MiB)
        assert await leased(gate) == [GiB]
        clock.now += USE_MS + 1
        await gate.spend(PAYER, 5 * MiB)
        # the old lease keeps the 3 MiB its tickets took; the new one is a slice of what is free
        assert await leased(gate) == [3 * MiB, (8 * GiB - 3 * MiB) // 8]
    finally:
        await nc.close()
