"""Chunk reservations in the JetStream KV bucket STRATOS_RESERVATIONS (key = chunk ID, value =
the unix ms the reservation expires, in ASCII).

A writer stores its chunks before it commits the manifest that names them; until then nothing
references them and garbage collection would see orphans. PlaceChunks therefore reserves every
chunk it places for the GC grace, GC never collects a reserved chunk, and CommitManifest uses
an expired record to notice an upload that took longer than the grace (cleanup_rules explains
the whole race). A commit releases its chunks' records; GC purges the rest once their chunk is
referenced or they are long expired.
"""

from __future__ import annotations

from collections.abc import Iterable

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from stratos.common.errors import Unavailable
from stratos.common.natsutil import ensure_kv
from stratos.index.locations import read_all
from stratos.index.manifests import _nats_call

RESERVATIONS_BUCKET = "STRATOS_RESERVATIONS"


def _expiry(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None  # not ours: treat as absent rather than fail a commit


class ReservationStore:
    def __init__(self, kv) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, *, replicas: int) -> ReservationStore:
        try:
            return cls(await ensure_kv(js, RESERVATIONS_BUCKET, replicas=replicas))
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(
                f"cannot open the JetStream KV bucket {RESERVATIONS_BUCKET} "
                f"(is JetStream enabled on the NATS server?): {exc!r}"
            ) from None

    async def reserve(self, chunk_ids: Iterable[str], expires_unix_ms: int) -> None:
        """Reserve chunks until `expires_unix_ms` (a later placement extends the reservation)."""
        value = str(expires_unix_ms).encode()
        for cid in dict.fromkeys(chunk_ids):
            async with _nats_call():
                await self._kv.put(cid, value)

    async def get(self, chunk_ids: Iterable[str]) -> dict[str, int]:
        """Chunk ID → expiry, for the chunks that have a record (expired ones included)."""
        out: dict[str, int] = {}
        for cid in dict.fromkeys(chunk_ids):
            try:
                async with _nats_call():
                    entry = await self._kv.get(cid)
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                continue
            expiry = _expiry(entry.value or b"")
            if expiry is not None:
                out[cid] = expiry
        return out

    async def all(self) -> dict[str, int]:
        raw = await read_all(self._kv)
        return {cid: e for cid, v in raw.items() if (e := _expiry(v)) is not None}

    async def release(self, chunk_ids: Iterable[str]) -> None:
        """Drop the reservations of chunks a manifest now names (called after its commit), so
        removing that file later is not held back by its own upload's reservations. A record
        renewed between the read and the delete (another upload of the same chunk) stays."""
        await self.purge(chunk_ids, unless_after=None)

    async def purge(self, chunk_ids: Iterable[str], *, unless_after: int | None) -> int:
        """Forget records, except ones expiring after `unless_after` (None: any expiry);
        returns how many went. Compare-and-set, so a placement racing the purge wins."""
        purged = 0
        for cid in chunk_ids:
            try:
                async with _nats_call():
                    entry = await self._kv.get(cid)
                    expiry = _expiry(entry.value or b"")
                    if unless_after is not None and expiry is not None and expiry > unless_after:
                        continue
                    await self._kv.delete(cid, last=entry.revision)
                purged += 1
            except (
                nats.js.errors.KeyNotFoundError,
                nats.js.errors.KeyDeletedError,
                nats.js.errors.KeyWrongLastSequenceError,
            ):
                continue
        return purged
