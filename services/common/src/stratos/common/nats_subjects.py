"""The NATS subjects, streams and buckets the services share, in a leaf module: the permission
table (`nats_roles`) and the launcher read them without loading nats-py."""

from __future__ import annotations

# Subjects (see proto/stratos/v1/events.proto).
HEARTBEAT_SUBJECT = "stratos.node.heartbeat.{node_id}"
HEARTBEAT_WILDCARD = "stratos.node.heartbeat.>"
HEARTBEAT_STREAM = "STRATOS_HEARTBEATS"
FILE_COMMITTED_SUBJECT = "stratos.file.committed"
FILE_DELETED_SUBJECT = "stratos.file.deleted"
MANIFEST_BUCKET = "STRATOS_MANIFESTS"
LOCATIONS_BUCKET = "STRATOS_LOCATIONS"  # FileLocations per file_id, changed with compare-and-set
REPAIR_STREAM = "STRATOS_REPAIR"  # work queue: each job is delivered to one consumer until acked
REPAIR_JOB_SUBJECT = "stratos.repair.job.{node_id}"  # RepairJob for the node that executes it
REPAIR_JOB_WILDCARD = "stratos.repair.job.>"
# On a message of that subject that carries a RepairJobBatch instead: how many jobs it holds.
REPAIR_BATCH_HEADER = "Stratos-Jobs"
# RepairResult, plain NATS, on the executing node's own subject (its NATS user may publish
# only there, and the index checks that the result names the same node)
REPAIR_RESULT_SUBJECT = "stratos.repair.result.{node_id}"
REPAIR_RESULT_WILDCARD = "stratos.repair.result.*"
AUDIT_RESULT_SUBJECT = "stratos.audit.results"  # AuditResult, plain NATS
# Proof-of-Traffic (the incentive service): a storage node publishes the receipts it was given
# as a ReceiptBatch on its own subject; the stream also holds the audit results and one marker
# per epoch end (EpochMark), so every incentive replica reads them all in one order.
RECEIPTS_SUBJECT = "stratos.traffic.receipts.{node_id}"
RECEIPTS_WILDCARD = "stratos.traffic.receipts.*"
EPOCH_MARK_SUBJECT = "stratos.traffic.epoch"
TRAFFIC_STREAM = "STRATOS_TRAFFIC"
REPORTS_BUCKET = "STRATOS_REPORTS"  # meta nodes' signatures over each epoch's report digest
