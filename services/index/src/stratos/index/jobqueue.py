"""Publishing a repair job on the STRATOS_REPAIR work queue, once per job ID.

JetStream's duplicate window (Nats-Msg-Id = job ID) stores a job two index replicas plan alike
only once. A duplicate still queued for its node is left alone; one whose message is already
gone (executed, yet needed again, e.g. the chunk came back) is published again under
`<job_id>.<sequence of the old message>`, a name every replica derives alike. Each job is signed
by the index replica that publishes it: a storage node executes only jobs signed by an admitted
meta node."""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext

from stratos.common.nats_trust import Signer
from stratos.common.natsutil import REPAIR_JOB_SUBJECT, REPAIR_STREAM
from stratos.v1 import repair_pb2

REPUBLISH_ATTEMPTS = 3


async def publish_job(js: JetStreamContext, job: repair_pb2.RepairJob, signer: Signer) -> bool:
    """True when the stream stored the job (not a duplicate of one still queued)."""
    subject = REPAIR_JOB_SUBJECT.format(node_id=job.target_node_id)
    data = job.SerializeToString()
    msg_id = job.job_id
    for _ in range(REPUBLISH_ATTEMPTS):
        headers = signer.headers(subject, data, {"Nats-Msg-Id": msg_id})
        ack = await js.publish(subject, data, headers=headers)
        if not ack.duplicate:
            return True
        try:
            await js.get_msg(REPAIR_STREAM, ack.seq)
            return False  # still queued for its node
        except nats.js.errors.NotFoundError:
            msg_id = f"{job.job_id}.{ack.seq}"
    return False
