"""The storage tests' admission list (set per test by conftest's autouse `mesh` fixture): jobs a
test publishes are signed by the admitted index, as the index signs them, and an in-process
repair worker checks them against the list, as a node does."""

from __future__ import annotations

from stratos.common.natsutil import REPAIR_JOB_SUBJECT
from stratos.common.testing import INDEX_ID, TrustedMesh
from stratos.v1 import repair_pb2

MESH: TrustedMesh | None = None


def mesh() -> TrustedMesh:
    assert MESH is not None, "the conftest's `mesh` fixture sets it"
    return MESH


def job_message(job: repair_pb2.RepairJob) -> tuple[str, bytes, dict[str, str]]:
    """Subject, payload and headers of `job` published by the admitted index."""
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
