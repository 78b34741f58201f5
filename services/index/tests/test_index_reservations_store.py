"""Reservations in the STRATOS_RESERVATIONS bucket of a real nats-server: a file's chunks
reserved and read at once, and a commit's release deleting exactly the records it read — never
one another placement renewed since."""

from __future__ import annotations

import pytest

from stratos.common import natsutil
from stratos.index.reservations import Record, ReservationStore

pytestmark = pytest.mark.integration


async def test_a_release_drops_the_records_read_and_keeps_one_renewed_since(nats) -> None:
    nc = await natsutil.connect(nats.url, name="reservations")
    try:
        store = await ReservationStore.open(nc.jetstream(), replicas=1)
        chunks = [f"{i:064x}" for i in range(5)]
        await store.reserve([*chunks, chunks[0]], 1_000)  # a repeated ID is reserved once
        held = await store.records(chunks)
        assert {cid: r.expires_unix_ms for cid, r in held.items()} == dict.fromkeys(chunks, 1_000)
        assert len({r.revision for r in held.values()}) == len(chunks)
        assert await store.get([*chunks, "f" * 64]) == dict.fromkeys(chunks, 1_000)

        await store.reserve([chunks[1]], 2_000)  # another upload of the same chunk, after the read
        assert await store.release(held) == len(chunks) - 1
        assert await store.get(chunks) == {chunks[1]: 2_000}
        assert await store.release(held) == 0  # released already: nothing left to delete
        assert await store.release({"e" * 64: Record(1, 1)}) == 0  # never reserved
        assert await store.get(chunks) == {chunks[1]: 2_000}
    finally:
        await nc.close()
