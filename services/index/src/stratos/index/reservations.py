"""Chunk reservations in the JetStream KV bucket STRATOS_RESERVATIONS (key = chunk ID, value =
the unix ms the reservation expires, in ASCII).

A writer stores its chunks before it commits the manifest that names them; until then nothing
references them and garbage collection would see orphans. PlaceChunks therefore reserves every
chunk it places for the GC grace, GC never collects a reserved chunk, and CommitManifest uses
an expired record to notice an upload that took longer than the grace (cleanup_rules explains
the whole race). A commit releases its chunks' records — with the revisions it read when it
checked them, after it has answered — and GC purges the rest once their chunk is referenced or
they are long expired.

A file's chunks are reserved, read and released concurrently: each is its own key, and every
write is fsync'd by NATS before it is acknowledged, so a put waits for one round trip per step,
not one per chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from stratos.common.errors import Unavailable
from stratos.common.natsutil import ensure_kv
from stratos.index.locations import read_all
from stratos.index.manifests import _nats_call

RESERVATIONS_BUCKET = "STRATOS_RESERVATIONS"
_AT_ONCE = 64  # reads in flight at once when many chunks are asked about


def _expiry(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None  # not ours: treat as absent rather than fail a commit


@dataclass(frozen=True)
class Record:
    """A chunk's reservation as read: when it expires, and the revision that wrote it (which a
    release deletes only if it is still the latest)."""

    expires_unix_ms: int
    revision: int


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

        async def put(cid: str) -> None:
            async with _nats_call():
                await self._kv.put(cid, value)

        await asyncio.gather(*(put(cid) for cid in dict.fromkeys(chunk_ids)))

    async def get(self, chunk_ids: Iterable[str]) -> dict[str, int]:
        """Chunk ID → expiry, for the chunks that have a record (expired ones included)."""
        return {cid: r.expires_unix_ms for cid, r in (await self.records(chunk_ids)).items()}

    async def records(self, chunk_ids: Iterable[str]) -> dict[str, Record]:
        """Chunk ID → its record as read now, for the chunks that have one."""

        async def read(cid: str) -> Record | None:
            try:
                async with _nats_call():
                    entry = await self._kv.get(cid)
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                return None
            expiry = _expiry(entry.value or b"")
            return None if expiry is None else Record(expiry, entry.revision)

        ids = list(dict.fromkeys(chunk_ids))
        out: dict[str, Record] = {}
        for start in range(0, len(ids), _AT_ONCE):  # GC asks about many chunks: in bounded bursts
            batch = ids[start : start + _AT_ONCE]
            found = await asyncio.gather(*(read(cid) for cid in batch))
            out.update((cid, r) for cid, r in zip(batch, found, strict=True) if r is not None)
        return out

    async def all(self) -> dict[str, int]:
        raw = await read_all(self._kv)
        return {cid: e for cid, v in raw.items() if (e := _expiry(v)) is not None}

    async def release(self, records: Mapping[str, Record]) -> int:
        """Drop the reservations of chunks a manifest now names (after its commit), so removing
        that file later is not held back by its own upload's reservations; returns how many
        went. Each goes only if it is still the revision read (compare-and-set): one renewed
        since — another upload of the same chunk — stays."""

        async def delete(cid: str, revision: int) -> bool:
            try:
                async with _nats_call():
                    await self._kv.delete(cid, last=revision)
            except (
                nats.js.errors.KeyNotFoundError,
                nats.js.errors.KeyDeletedError,
                nats.js.errors.KeyWrongLastSequenceError,
            ):
                return False
            return True

        done = await asyncio.gather(*(delete(cid, r.revision) for cid, r in records.items()))
        return sum(done)

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
