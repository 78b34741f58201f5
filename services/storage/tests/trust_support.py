"""The storage tests' admission list (set per test by conftest's autouse `mesh` fixture): jobs a
test publishes are signed by the admitted index, as the index signs them, and an in-process
repair worker checks them against the list, as a node does."""

from __future__ import annotations

from stratos.common import tickets
from stratos.common.natsutil import REPAIR_JOB_SUBJECT
from stratos.common.testing import INDEX_ID, TrustedMesh
from stratos.v1 import repair_pb2, ticket_pb2

MESH: TrustedMesh | None = None


def mesh() -> TrustedMesh:
    assert MESH is not None, "the conftest's `mesh` fixture sets it"
    return MESH


def with_ticket(job: repair_pb2.RepairJob) -> repair_pb2.RepairJob:
    """`job` carrying the GET ticket the index gives a job that fetches: for its chunks on its
    sources, held by the target node's admitted key (which signs each fetch)."""
    if job.ticket.ticket or job.kind not in (
        repair_pb2.REPAIR_KIND_COPY,
        repair_pb2.REPAIR_KIND_REENCODE,
    ):
        return job
    if job.target_node_id not in mesh().identities:
        return job  # a target the test never admitted: no ticket could name its key
    if job.kind == repair_pb2.REPAIR_KIND_COPY:
        chunks, nodes = [job.chunk_id], [s.node_id for s in job.sources]
    else:
        chunks = [s.chunk_id for s in job.shares]
        nodes = [h.node_id for s in job.shares for h in s.holders]
    if not nodes:
        return job
    meta = mesh().identities.get(INDEX_ID) or mesh().meta(INDEX_ID)[0]
    stamped = repair_pb2.RepairJob()
    stamped.CopyFrom(job)
    stamped.ticket.CopyFrom(
        tickets.issue(
            meta,
            INDEX_ID,
            holder_public_key=mesh().identities[job.target_node_id].public_bytes,
            actions=[ticket_pb2.TICKET_ACTION_GET],
            node_ids=nodes,
            chunk_ids=chunks,
            byte_budget=max(1, 2 * job.size) * max(1, len(chunks)),
            ttl_ms=600_000,
            file_id=job.file_id,
        )
    )
    return stamped


def job_message(job: repair_pb2.RepairJob) -> tuple[str, bytes, dict[str, str]]:
    """Subject, payload and headers of `job` published by the admitted index (with the ticket
    it gives a job that fetches)."""
    job = with_ticket(job)
    subject = REPAIR_JOB_SUBJECT.format(node_id=job.target_node_id)
    data = job.SerializeToString()
    return (
        subject,
        data,
        mesh().signer(INDEX_ID).headers(subject, data, {"Nats-Msg-Id": job.job_id}),
    )


def worker_trust(node_id: str) -> dict:
    """What a RepairWorker for `node_id` signs and checks with (the node admitted)."""
    if node_id not in mesh().identities:
        mesh().storage(node_id)
    return {"signer": mesh().signer(node_id), "gate": mesh().gate()}


def batch_message(
    jobs: list[repair_pb2.RepairJob], signer_id: str = INDEX_ID
) -> tuple[str, bytes, dict[str, str]]:
    """Subject, payload and headers of a RepairJobBatch for one node, signed by `signer_id`
    (the admitted index unless a test plays someone else)."""
    from stratos.common.nats_subjects import REPAIR_BATCH_HEADER

    jobs = [with_ticket(j) for j in jobs]
    subject = REPAIR_JOB_SUBJECT.format(node_id=jobs[0].target_node_id)
    data = repair_pb2.RepairJobBatch(jobs=jobs).SerializeToString()
    headers = {"Nats-Msg-Id": "batch-" + jobs[0].job_id, REPAIR_BATCH_HEADER: str(len(jobs))}
    return subject, data, mesh().signer(signer_id).headers(subject, data, headers)
