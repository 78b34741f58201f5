"""The pure decisions of repair execution: is a job well formed, what became of it, and what
the JetStream edge does about it (ack, or nak with a delay) and reports (a RepairResult).

A job either *succeeds*, fails *for now* (a source was unreachable: trying again later may work)
or fails *for good* (every source was corrupt or lacks the chunk, the job is malformed, this node
is full). Only a failure for now is retried, and only up to the consumer's delivery limit; then
it is reported like a failure for good, so the planner always hears the end of every job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from stratos.common.hashing import is_chunk_id
from stratos.common.limits import MAX_SHARES
from stratos.common.shown import shown
from stratos.storage.repair_errors import JobFailed, permanent
from stratos.v1 import repair_pb2

COPY = repair_pb2.REPAIR_KIND_COPY
REENCODE = repair_pb2.REPAIR_KIND_REENCODE
DELETE = repair_pb2.REPAIR_KIND_DELETE


def validate_job(job: repair_pb2.RepairJob, node_id: str) -> None:
    """Refuse malformed jobs before any work (raises a permanent JobFailed)."""
    job_id = shown(job.job_id)  # the job's fields are a stranger's: quoted, cut to length
    if job.target_node_id and job.target_node_id != node_id:
        raise permanent(f"job {job_id} targets {shown(job.target_node_id)}, not {node_id}")
    if not is_chunk_id(job.chunk_id):
        raise permanent(f"job {job_id} names no valid chunk ID ({shown(job.chunk_id)})")
    if job.kind == COPY:
        if not job.sources:
            raise permanent(f"copy job {job_id} lists no source")
    elif job.kind == REENCODE:
        _validate_reencode(job)
    elif job.kind != DELETE:
        raise permanent(f"job {job_id} has an unknown kind ({job.kind})")


def _validate_reencode(job: repair_pb2.RepairJob) -> None:
    k, m = job.erasure.data_shares, job.erasure.parity_shares
    job_id = shown(job.job_id)
    if k < 1 or m < 1 or k + m > MAX_SHARES:
        # k also sizes what the job fetches (k shares held in memory): bounded before any I/O
        raise permanent(f"re-encode job {job_id} has no valid erasure code ({k}+{m})")
    if job.share_index >= k + m:
        raise permanent(
            f"re-encode job {job_id} asks for share {job.share_index} of a {k}+{m} code"
        )
    indices = [s.index for s in job.shares]
    if len(set(indices)) != len(indices) or any(i >= k + m for i in indices):
        raise permanent(f"re-encode job {job_id} lists invalid or repeated share indices")
    usable = sum(1 for s in job.shares if s.index != job.share_index and s.holders)
    if usable < k:
        raise permanent(
            f"re-encode job {job_id} lists {usable} other shares with holders; {k} are needed"
        )


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt at a job."""

    ok: bool
    bytes: int = 0
    error: str = ""
    retryable: bool = False

    @classmethod
    def done(cls, moved: int) -> Outcome:
        return cls(True, moved)

    @classmethod
    def failed(cls, err: JobFailed) -> Outcome:
        return cls(False, 0, err.message, err.retryable)


class Action(Enum):
    ACK = "ack"  # finished (well or for good): remove the job from the queue, report it
    NAK = "nak"  # try again after a delay; nothing is reported yet


@dataclass(frozen=True)
class Disposition:
    action: Action
    delay_s: float = 0.0
    error: str = ""  # the sentence reported when the job is finished unsuccessfully


def retry_delay_s(num_delivered: int, base_s: float = 2.0, cap_s: float = 60.0) -> float:
    """Exponential back-off between attempts: base, 2 base, 4 base ... at most `cap_s`."""
    return min(cap_s, base_s * 2 ** max(0, num_delivered - 1))


def decide(
    outcome: Outcome, num_delivered: int, max_deliver: int, *, base_delay_s: float = 2.0
) -> Disposition:
    if outcome.ok or not outcome.retryable:
        return Disposition(Action.ACK, error=outcome.error)
    if num_delivered < max_deliver:
        return Disposition(Action.NAK, delay_s=retry_delay_s(num_delivered, base_delay_s))
    return Disposition(
        Action.ACK, error=f"{outcome.error.rstrip('.')} (gave up after {num_delivered} attempts)"
    )


def build_result(
    job: repair_pb2.RepairJob, node_id: str, outcome: Outcome, error: str
) -> repair_pb2.RepairResult:
    return repair_pb2.RepairResult(
        job_id=job.job_id,
        kind=job.kind,
        file_id=job.file_id,
        chunk_id=job.chunk_id,
        node_id=node_id,
        ok=outcome.ok,
        error="" if outcome.ok else error or outcome.error,
        bytes=outcome.bytes,
    )


def kind_name(kind: int) -> str:
    return repair_pb2.RepairKind.Name(kind) if kind in repair_pb2.RepairKind.values() else str(kind)
