"""Who pays when a compute executor reads a job's input (pure).

An executor reads the inputs of a job it was chosen for, with GET tickets like any reader —
but the job's payer, not the executor, pays for those bytes. The index grants that only when:
- the job is signed by its submitter, and its payer is the submitter's own address (a job
  cannot charge a wallet that did not sign it);
- the asker (whose key signed the ticket ask) is an admitted storage node the job names as an
  executor;
- the file is one of the job's inputs, or its module;
- the job is recent: created at most `JOB_READ_WINDOW_MS` ago (and not in the future), so a
  job seen once cannot be used to read its inputs at the payer's cost forever.
"""

from __future__ import annotations

from stratos.common.admission import Admission
from stratos.common.errors import FailedPrecondition, PermissionDenied
from stratos.common.identity import address_of
from stratos.common.jobkeys import open_job
from stratos.v1 import auth_pb2, compute_pb2

JOB_READ_WINDOW_MS = 6 * 3600 * 1000
CLOCK_SKEW_MS = 5 * 60 * 1000


def payer_for_job_read(
    signed: compute_pb2.SignedJob,
    asker: bytes,
    file_id: str,
    admission: Admission | None,
    now_ms: int,
) -> str:
    """The ledger address that pays for `asker`'s read of `file_id` for the job, or a refusal."""
    job = open_job(signed)
    submitter = address_of(bytes(job.submitter_public_key))
    if job.payer and job.payer != submitter:
        raise PermissionDenied("a job's payer must be its submitter's own address")
    if file_id not in {i.file_id for i in job.inputs} | {job.module_file_id}:
        raise PermissionDenied(f"the job reads no file {file_id}")
    member = admission.member_by_key(asker) if admission is not None else None
    if (
        member is None
        or member.role != auth_pb2.MESH_ROLE_STORAGE
        or member.node_id not in job.executors
    ):
        raise PermissionDenied("the asker is not an admitted executor of this job")
    age = now_ms - job.created_unix_ms
    if age > JOB_READ_WINDOW_MS or age < -CLOCK_SKEW_MS:
        raise FailedPrecondition(
            "the job was created outside the last "
            f"{JOB_READ_WINDOW_MS // 3_600_000} hours; its inputs are no longer read for it"
        )
    return submitter
