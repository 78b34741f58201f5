"""Where a file's chunks are now, kept beside the signed manifest in the JetStream KV bucket
STRATOS_LOCATIONS (key = file ID, value = FileLocations).

The owner's signature cannot cover copies made after the upload, so repair, drain and
rebalance record them here. A chunk not listed is where the signed manifest says. Every change
is a compare-and-set on the key's revision, so two index replicas applying results at once
never lose one; applying the same result twice changes nothing.

A copy is a node's, not a file's (`pieces.py`): a result about a chunk is recorded for every
file that names the chunk (`apply_all`), so no file goes on believing in a copy another file's
repair deleted.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Iterable, Mapping

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from stratos.common.errors import Unavailable
from stratos.common.natsutil import LOCATIONS_BUCKET, ensure_kv, kv_keys
from stratos.index.manifests import _nats_call
from stratos.index.pieces import manifest_holders, naming
from stratos.v1 import repair_pb2, types_pb2

_CAS_ATTEMPTS = 20
_CAS_BACKOFF_S = 0.005
_ADDS = (repair_pb2.REPAIR_KIND_COPY, repair_pb2.REPAIR_KIND_REENCODE)


def with_result(
    current: types_pb2.FileLocations,
    result: repair_pb2.RepairResult,
    signed_holders: Mapping[str, Iterable[str]],
) -> types_pb2.FileLocations | None:
    """The locations after a successful result, or None when nothing changes (a failure, a
    replay, or a chunk the manifest does not have). COPY and REENCODE add the executing node;
    DELETE removes it. An unlisted chunk starts from the manifest's holders."""
    if not result.ok or result.chunk_id not in signed_holders or not result.node_id:
        return None
    entries = {loc.chunk_id: list(loc.node_ids) for loc in current.chunks}
    nodes = entries.get(result.chunk_id)
    if nodes is None:
        nodes = list(signed_holders[result.chunk_id])
    if result.kind in _ADDS:
        if result.node_id in nodes:
            return None
        nodes.append(result.node_id)
    elif result.kind == repair_pb2.REPAIR_KIND_DELETE:
        if result.node_id not in nodes:
            return None
        nodes.remove(result.node_id)
    else:
        return None
    entries[result.chunk_id] = nodes
    return types_pb2.FileLocations(
        file_id=current.file_id or result.file_id,
        chunks=[
            types_pb2.ChunkLocation(chunk_id=cid, node_ids=entries[cid]) for cid in sorted(entries)
        ],
    )


async def read_all(kv) -> dict[str, bytes]:
    """Every live key of a KV bucket with its value (keys deleted in between are skipped)."""
    async with _nats_call():
        keys = await kv_keys(kv)
    out: dict[str, bytes] = {}
    for key in keys:
        try:
            async with _nats_call():
                entry = await kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            continue
        if entry.value:
            out[key] = entry.value
    return out


class LocationStore:
    def __init__(self, kv) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, *, replicas: int) -> LocationStore:
        try:
            return cls(await ensure_kv(js, LOCATIONS_BUCKET, replicas=replicas))
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(
                f"cannot open the JetStream KV bucket {LOCATIONS_BUCKET} "
                f"(is JetStream enabled on the NATS server?): {exc!r}"
            ) from None

    async def _entry(self, file_id: str):
        try:
            async with _nats_call():
                return await self._kv.get(file_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None

    async def get(self, file_id: str) -> types_pb2.FileLocations:
        """The file's locations; empty (only file_id set) when nothing has moved."""
        entry = await self._entry(file_id)
        if entry is None or not entry.value:
            return types_pb2.FileLocations(file_id=file_id)
        return types_pb2.FileLocations.FromString(entry.value)

    async def all(self) -> dict[str, types_pb2.FileLocations]:
        raw = await read_all(self._kv)
        return {k: types_pb2.FileLocations.FromString(v) for k, v in raw.items()}

    async def apply(
        self, result: repair_pb2.RepairResult, signed_holders: Mapping[str, Iterable[str]]
    ) -> bool:
        """Record a repair result; True when the locations changed. Retries the read-modify-write
        when another replica changed the key in between."""
        for attempt in range(_CAS_ATTEMPTS):
            entry = await self._entry(result.file_id)
            current = (
                types_pb2.FileLocations.FromString(entry.value)
                if entry is not None and entry.value
                else types_pb2.FileLocations(file_id=result.file_id)
            )
            updated = with_result(current, result, signed_holders)
            if updated is None:
                return False
            value = updated.SerializeToString()
            try:
                async with _nats_call():
                    if entry is None:
                        await self._kv.create(result.file_id, value)
                    else:
                        await self._kv.update(result.file_id, value, last=entry.revision)
                return True
            except (
                nats.js.errors.KeyWrongLastSequenceError,
                # create() on a key that exists (another replica created it first).
                nats.js.errors.BadRequestError,
            ):
                # Lost the race: back off a random while so racing writers spread out.
                await asyncio.sleep(random.uniform(0, _CAS_BACKOFF_S * (attempt + 1)))
        raise Unavailable(f"the locations of file {result.file_id} keep changing; try again")

    async def apply_all(
        self, result: repair_pb2.RepairResult, manifests: Iterable[types_pb2.Manifest]
    ) -> bool:
        """Record a result about a chunk for every file among `manifests` that names it; True
        when any file's locations changed."""
        changed = False
        for m in naming(manifests, result.chunk_id):
            mine = repair_pb2.RepairResult()
            mine.CopyFrom(result)
            mine.file_id = m.file_id
            changed |= await self.apply(mine, manifest_holders(m))
        return changed

    async def delete(self, file_id: str) -> None:
        """Forget a deleted file's locations (a no-op when it has none)."""
        if await self._entry(file_id) is None:
            return
        async with _nats_call():
            await self._kv.delete(file_id)


_shared: weakref.WeakKeyDictionary[NATS, LocationStore] = weakref.WeakKeyDictionary()


async def for_connection(nc: NATS, *, replicas: int) -> LocationStore:
    """One LocationStore per NATS connection, opened on first use (for the gRPC edge)."""
    store = _shared.get(nc)
    if store is None:
        store = await LocationStore.open(nc.jetstream(), replicas=replicas)
        _shared[nc] = store
    return store
