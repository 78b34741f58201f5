"""Executing one repair job against the local store: COPY, DELETE or REENCODE.

Every kind is idempotent, because JetStream delivers at least once: a chunk already stored
intact is a success with no transfer, and deleting an absent chunk is a success. A job returns
an `Outcome` (never raises for a job-level failure), so the queue edge only has to decide
between ack and nak. Success is returned only once the chunk is fsync'd by the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from stratos.common.errors import ResourceExhausted, StratosError
from stratos.common.hashing import new_hasher
from stratos.common.logging import get_logger
from stratos.storage.chunkstore import ChunkStore, ChunkWriter
from stratos.storage.repair_errors import JobFailed, SourceError, no_source_left, permanent
from stratos.storage.repair_fetch import Puller
from stratos.storage.repair_jobs import COPY, DELETE, REENCODE, Outcome, validate_job
from stratos.v1 import repair_pb2

log = get_logger(__name__)

# rebuild(shares by index, k, m, wanted=[indices]) -> {index: bytes}, as in stratos.common.erasure
Rebuild = Callable[..., dict[int, bytes]]


def erasure_rebuild(
    shares: Mapping[int, bytes], k: int, m: int, wanted: Sequence[int]
) -> dict[int, bytes]:
    # Imported on use: the erasure module is shared with the SDK and the planner, and a node
    # that never re-encodes should not need it to start.
    from stratos.common.erasure import rebuild

    return rebuild(shares, k, m, wanted=list(wanted))


class RepairExecutor:
    def __init__(
        self,
        store: ChunkStore,
        puller: Puller,
        *,
        rebuild: Rebuild = erasure_rebuild,
    ) -> None:
        self.store = store
        self.puller = puller
        self.node_id = store.node_id
        self.rebuild = rebuild

    async def execute(self, job: repair_pb2.RepairJob) -> Outcome:
        try:
            validate_job(job, self.node_id)
            if job.kind == COPY:
                moved = await self._copy(job)
            elif job.kind == DELETE:
                moved = await self._delete(job)
            else:
                assert job.kind == REENCODE
                moved = await self._reencode(job)
        except JobFailed as err:
            return Outcome.failed(err)
        except StratosError as err:
            # This node's own trouble. A full node should not keep the job: the planner places
            # it elsewhere once it hears of the failure.
            retry = err.retryable and not isinstance(err, ResourceExhausted)
            return Outcome.failed(JobFailed(err.message, retryable=retry))
        except OSError as err:
            log.warning("repair_local_error", job_id=job.job_id, error=str(err))
            return Outcome.failed(
                JobFailed(f"storage node {self.node_id} hit a disk error: {err}", retryable=True)
            )
        return Outcome.done(moved)

    async def _begin(self, job: repair_pb2.RepairJob) -> ChunkWriter:
        # Hashes a stored copy if there is one (a corrupt one is quarantined and replaced).
        return await asyncio.to_thread(self.store.begin, job.chunk_id, job.size)

    async def _copy(self, job: repair_pb2.RepairJob) -> int:
        failures: list[SourceError] = []
        for source in job.sources:
            if source.node_id == self.node_id:
                continue
            with await self._begin(job) as writer:
                if writer.already_present:
                    return 0
                try:
                    result = await self.puller.copy_into(
                        source, job.chunk_id, job.size, writer, ticket=job.ticket
                    )
                except SourceError as err:
                    log.info(
                        "repair_source_failed",
                        job_id=job.job_id,
                        source=source.node_id,
                        error=err.reason,
                    )
                    failures.append(err)
                    continue
                return job.size if not result.already_present else 0
        raise no_source_left(f"chunk {job.chunk_id}", failures)

    async def _delete(self, job: repair_pb2.RepairJob) -> int:
        # planned_unix_ms guards the one race GC leaves open: the same bytes stored again
        # after the delete was planned (see stratos.index.cleanup_rules)
        deleted = await asyncio.to_thread(
            partial(
                self.store.delete,
                job.chunk_id,
                unless_written_after_ms=job.planned_unix_ms or None,
            )
        )
        log.info("repair_deleted", job_id=job.job_id, chunk_id=job.chunk_id, existed=deleted)
        return 0

    async def _reencode(self, job: repair_pb2.RepairJob) -> int:
        k, m = job.erasure.data_shares, job.erasure.parity_shares
        with await self._begin(job) as writer:
            if writer.already_present:
                return 0
            shares, moved = await self._gather_shares(job, k)
            try:
                rebuilt = await asyncio.to_thread(
                    self.rebuild, shares, k, m, wanted=[job.share_index]
                )
            except ImportError:
                raise permanent("this storage node has no erasure coding module") from None
            except (ValueError, KeyError) as err:
                raise permanent(f"share {job.share_index} could not be rebuilt: {err}") from None
            del shares
            data = rebuilt.get(job.share_index)
            if data is None or len(data) != job.size or _hex(data) != job.chunk_id:
                raise permanent(
                    f"the rebuilt share {job.share_index} does not hash to chunk {job.chunk_id}; "
                    "the listed shares do not belong to one segment"
                )
            await asyncio.to_thread(writer.write, data)
            await asyncio.to_thread(writer.commit)
            return moved

    async def _gather_shares(
        self, job: repair_pb2.RepairJob, k: int
    ) -> tuple[dict[int, bytes], int]:
        """Any k other shares, each from the first holder that provides it intact."""
        got: dict[int, bytes] = {}
        failures: list[SourceError] = []
        for share in job.shares:
            if len(got) == k:
                break
            if share.index == job.share_index:
                continue
            for holder in share.holders:
                try:
                    buf = await self.puller.fetch(
                        holder, share.chunk_id, job.size, ticket=job.ticket
                    )
                except SourceError as err:
                    reason = f"share {share.index}: {err.reason}"
                    failures.append(SourceError(err.node_id, reason, retryable=err.retryable))
                    continue
                got[share.index] = bytes(buf)
                break
        if len(got) < k:
            what = f"{k} shares to rebuild chunk {job.chunk_id} (got {len(got)})"
            raise no_source_left(what, failures)
        return got, k * job.size


def _hex(data: bytes) -> str:
    hasher = new_hasher()
    hasher.update(data)
    return hasher.hexdigest()
