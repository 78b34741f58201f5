"""What cleanup may remove, decided as data: expired files, the chunks of a removed file that no
other file shares, orphan chunks past the grace, and uploads that outlived their reservation.
Pure — the clock comes in as `now_ms` — so every rule is unit-tested directly.

The upload race, and why it is safe
-----------------------------------
A writer asks PlaceChunks where its chunks go, stores them (PutChunk), and only then commits
the manifest that names them. Between the store and the commit nothing references the chunks,
so to garbage collection they look exactly like the leftovers of a failed upload. Three rules
keep an upload in flight safe:

1. PlaceChunks *reserves* every chunk it places until `now + grace`, before it answers, so the
   reservation exists before any byte of the chunk reaches a node.
2. GC deletes a chunk from a node only when no manifest names it, it is not reserved, and the
   node stored it more than `grace` ago (`stored_unix_ms`, the file's mtime). GC reads the
   reservations *after* listing the node, so a placement it missed happened after the listing
   began, and a chunk stored after that is younger than the grace.
3. CommitManifest refuses a manifest naming a chunk whose reservation has expired, that no
   stored manifest names, and that is no longer on every node the manifest lists (asked with
   HasChunks): that upload took longer than the grace and GC may have collected it. If every
   copy is still there the commit is accepted. A chunk with no reservation at all was never
   placed through an index (a tool committing directly) and is not checked.

Removing files follows the same rule for shared chunks: a chunk another stored manifest names,
or one reserved by an upload in flight, is never deleted with the file that went away.

Left open: a writer that re-stores the very same bytes as an old orphan (identical ciphertext,
which random per-file keys make practically impossible) while GC's DELETE for it is in flight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from stratos.index.pieces import chunk_sizes, holders, manifest_holders
from stratos.index.repair_plan import DELETE, job_id
from stratos.v1 import repair_pb2, types_pb2


@dataclass(frozen=True)
class ChunkCopy:
    """A chunk as a node listed it."""

    chunk_id: str
    size: int
    stored_unix_ms: int


def is_expired(expires_unix_ms: int, now_ms: int) -> bool:
    """0 means the file never expires; otherwise it is gone from the expiry instant on."""
    return expires_unix_ms != 0 and expires_unix_ms <= now_ms


def format_instant(unix_ms: int) -> str:
    return dt.datetime.fromtimestamp(unix_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def expired_message(file_id: str, expires_unix_ms: int) -> str:
    return f"file {file_id} expired at {format_instant(expires_unix_ms)}"


def chunk_ids(manifest: types_pb2.Manifest) -> list[str]:
    """Every chunk a manifest names: replicated segments' chunks and coded segments' shares."""
    return list(manifest_holders(manifest))


def referenced(manifests: Iterable[types_pb2.Manifest]) -> set[str]:
    return {cid for m in manifests for cid in chunk_ids(m)}


def reserved(reservations: Mapping[str, int], now_ms: int) -> set[str]:
    """Chunks whose reservation still holds."""
    return {cid for cid, expiry in reservations.items() if expiry > now_ms}


def file_delete_jobs(
    manifest: types_pb2.Manifest,
    locations: types_pb2.FileLocations | None,
    keep: Iterable[str],
    *,
    reason: str,
    now_ms: int,
) -> list[repair_pb2.RepairJob]:
    """DELETE jobs for a removed file's chunks on every node that holds or held them (the
    signed holders and the recorded ones: deleting a copy that is not there is harmless),
    except chunks in `keep` — those another file names or an upload has reserved."""
    spare = set(keep)
    where = manifest_holders(manifest)
    for cid, nodes in holders(manifest, locations).items():
        where[cid] = sorted({*where[cid], *nodes})
    sizes = chunk_sizes(manifest)
    return [
        delete_job(
            cid, node, sizes.get(cid, 0), reason=reason, now_ms=now_ms, file_id=manifest.file_id
        )
        for cid in sorted(where)
        if cid not in spare
        for node in sorted(set(where[cid]))
    ]


def delete_job(
    chunk_id: str, node_id: str, size: int, *, reason: str, now_ms: int, file_id: str = ""
) -> repair_pb2.RepairJob:
    """The same deletion always gets the same job ID (the one repair would give it), so the
    repair stream stores it once however many index replicas plan it."""
    return repair_pb2.RepairJob(
        job_id=job_id(DELETE, chunk_id, node_id),
        kind=DELETE,
        file_id=file_id,
        chunk_id=chunk_id,
        size=size,
        target_node_id=node_id,
        reason=reason,
        planned_unix_ms=now_ms,
    )


def orphans(
    listed: Iterable[ChunkCopy],
    referenced_ids: Container[str],
    reserved_ids: Container[str],
    *,
    now_ms: int,
    grace_ms: int,
    metadata_since_ms: int = 0,
) -> list[ChunkCopy]:
    """The chunks of one node's listing GC may delete: named by no manifest, not reserved, and
    stored more than the grace ago (a younger chunk may belong to an upload in flight) — and
    not before the manifest store itself was created (`metadata_since_ms`): a chunk older than
    the store that should name it may belong to a manifest the store lost (NATS restarted
    without its disk), and deleting it would turn lost metadata into lost data."""
    return [
        c
        for c in listed
        if c.chunk_id not in referenced_ids
        and c.chunk_id not in reserved_ids
        and now_ms - c.stored_unix_ms > grace_ms
        and c.stored_unix_ms >= metadata_since_ms
    ]


def lapsed_at_commit(
    chunk_ids_: Iterable[str],
    reservations: Mapping[str, int],
    referenced_elsewhere: Container[str],
    now_ms: int,
) -> list[str]:
    """Chunks of a manifest being committed that GC may have collected: their reservation
    expired and no stored manifest names them. Each must be found on every node the manifest
    lists before the commit is accepted."""
    return [
        cid
        for cid in dict.fromkeys(chunk_ids_)
        if cid in reservations and reservations[cid] <= now_ms and cid not in referenced_elsewhere
    ]


def lapsed_message(file_id: str, chunk_id: str, node_id: str, grace_s: float) -> str:
    return (
        f"the upload of file {file_id} took longer than the {grace_s:g} s grace and chunk "
        f"{chunk_id} is no longer on {node_id}; put the file again"
    )


def purgeable(
    reservations: Mapping[str, int], referenced_ids: Container[str], *, now_ms: int, grace_ms: int
) -> tuple[list[str], list[str]]:
    """Reservation records GC may forget: (expired ones whose chunk a manifest now names,
    ones expired for more than another grace). The second wait lets a late commit still be
    recognised as late."""
    named = sorted(c for c, e in reservations.items() if e <= now_ms and c in referenced_ids)
    stale = sorted(
        c for c, e in reservations.items() if e < now_ms - grace_ms and c not in referenced_ids
    )
    return named, stale


def gc_pause(interval_s: float, listed: int, chunks_per_s: float) -> float:
    """Seconds before the next GC round: the interval, or the time that listing `listed`
    chunks is allowed at `chunks_per_s` on average, whichever is longer."""
    return max(interval_s, listed / chunks_per_s)
