"""Publishing repair jobs on the STRATOS_REPAIR work queue, once per job ID (or batch of them).

JetStream's duplicate window (Nats-Msg-Id = job ID) stores a job two index replicas plan alike
only once. A duplicate still queued for its node is left alone; one whose message is already
gone (executed, yet needed again, e.g. the chunk came back) is published again under
`<job_id>.<sequence of the old message>`, a name every replica derives alike. Each message is
signed by the index replica that publishes it: a storage node executes only jobs signed by an
admitted meta node.

Many jobs for one node (a lost node's thousands) go as `RepairJobBatch` messages of up to
MAX_BATCH jobs: one message, acknowledgement and signature for the lot instead of one each. A
batch's ID is derived from its jobs' IDs, so replicas planning alike batch alike."""

from __future__ import annotations

from collections.abc import Sequence

import nats.js.errors
from blake3 import blake3
from nats.js import JetStreamContext

from stratos.common.nats_subjects import REPAIR_BATCH_HEADER
from stratos.common.nats_trust import Signer
from stratos.common.natsutil import REPAIR_JOB_SUBJECT, REPAIR_STREAM
from stratos.v1 import repair_pb2

REPUBLISH_ATTEMPTS = 3
MAX_BATCH = 128  # jobs per batch message (a job with its ticket is well under 1 KiB)


async def publish_job(js: JetStreamContext, job: repair_pb2.RepairJob, signer: Signer) -> bool:
    """True when the stream stored the job (not a duplicate of one still queued)."""
    subject = REPAIR_JOB_SUBJECT.format(node_id=job.target_node_id)
    return await _publish_once(js, subject, job.SerializeToString(), job.job_id, signer, {})


async def publish_batch(
    js: JetStreamContext, jobs: Sequence[repair_pb2.RepairJob], signer: Signer
) -> bool:
    """One message holding `jobs` (all for one node, at most MAX_BATCH); True when the stream
    stored it (not a duplicate of the same batch still queued)."""
    targets = {j.target_node_id for j in jobs}
    if len(targets) != 1 or not 0 < len(jobs) <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} jobs for one node")
    subject = REPAIR_JOB_SUBJECT.format(node_id=targets.pop())
    data = repair_pb2.RepairJobBatch(jobs=jobs).SerializeToString()
    batch_id = "batch-" + blake3("\0".join(j.job_id for j in jobs).encode()).hexdigest(length=16)
    return await _publish_once(
        js, subject, data, batch_id, signer, {REPAIR_BATCH_HEADER: str(len(jobs))}
    )


def batches(jobs: Sequence[repair_pb2.RepairJob]) -> list[list[repair_pb2.RepairJob]]:
    """`jobs` grouped by target node, in their order, cut into batches of at most MAX_BATCH."""
    by_target: dict[str, list[repair_pb2.RepairJob]] = {}
    for job in jobs:
        by_target.setdefault(job.target_node_id, []).append(job)
    return [
        group[i : i + MAX_BATCH]
        for group in by_target.values()
        for i in range(0, len(group), MAX_BATCH)
    ]


async def _publish_once(
    js: JetStreamContext,
    subject: str,
    data: bytes,
    msg_id: str,
    signer: Signer,
    extra: dict[str, str],
) -> bool:
    first_id = msg_id
    for _ in range(REPUBLISH_ATTEMPTS):
        headers = signer.headers(subject, data, {"Nats-Msg-Id": msg_id, **extra})
        ack = await js.publish(subject, data, headers=headers)
        if not ack.duplicate:
            return True
        try:
            await js.get_msg(REPAIR_STREAM, ack.seq)
            return False  # still queued for its node
        except nats.js.errors.NotFoundError:
            msg_id = f"{first_id}.{ack.seq}"
    return False
