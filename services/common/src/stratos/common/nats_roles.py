"""Who may publish and subscribe to what on NATS: one table, by role, from which every
nats-server config we write gets its `authorization` block (issue 11, part 3).

A NATS server that lets any connection publish anything lets a stranger publish heartbeats for
invented nodes, repair jobs that delete chunks, results that write holders off, and put or delete
manifests in the KV buckets (a KV put is a publish to `$KV.<bucket>.<key>`; every JetStream call
is a request on `$JS.API.…`). So each process signs in as a user of one role and gets only what
the role needs:

- **index** (meta) publishes to the JetStream API (it creates and owns every stream and bucket),
  its KV buckets, repair jobs for any node, and file and audit events; it subscribes to every
  node's repair results and its own inbox.
- **storage `<id>`** publishes its own heartbeat and its own repair results; on the repair work
  queue it may only create its own durable consumer *filtered to its own job subject*, pull
  from it and ack its messages; it subscribes to its own inbox.
- **validator `<n>`** publishes committed blocks; it subscribes to its own inbox.
- **incentive `<id>`** owns the traffic stream and the reports bucket (creates them, reads the
  stream from any point, writes its own signatures), publishes epoch markers, and subscribes to
  committed blocks and its own inbox. A storage node also publishes its receipts, on its own
  subject (stored in the traffic stream; the answer comes to its inbox).
- **admin** (operator tooling, the launcher, tests) may do everything.

Clients (the SDK and the CLI) have no user at all: they speak gRPC only.

Replies go to a per-user inbox (`_INBOX.<user>.…`, `inbox_prefix` of the connection), so no
user can read another's JetStream answers (a manifest fetched by the index, say) by subscribing
to `_INBOX.>`. A storage node creates its consumer with the subject form of the API
(`CONSUMER.CREATE.<stream>.<name>.<filter>`), where the server checks that the filter in the
request is the one in the subject: the allow list names its own filter, so it cannot read the
jobs of another node. The compute service gets its row when it lands.

The table is pure data; `stratos.common.nats_auth` renders it into nats-server's config and
`services/common/tests/test_nats_roles.py` checks that every subject, stream and bucket the code
names is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stratos.common.nats_subjects import (
    AUDIT_RESULT_SUBJECT,
    EPOCH_MARK_SUBJECT,
    FILE_COMMITTED_SUBJECT,
    FILE_DELETED_SUBJECT,
    HEARTBEAT_SUBJECT,
    LOCATIONS_BUCKET,
    MANIFEST_BUCKET,
    RECEIPTS_SUBJECT,
    REPAIR_JOB_SUBJECT,
    REPAIR_RESULT_SUBJECT,
    REPAIR_RESULT_WILDCARD,
    REPAIR_STREAM,
    REPORTS_BUCKET,
    TRAFFIC_STREAM,
)

# Names owned by the index; listed here rather than imported (stratos.common imports no service).
DRAIN_BUCKET = "STRATOS_DRAINS"
RESERVATIONS_BUCKET = "STRATOS_RESERVATIONS"
OZONE_BUCKET = "STRATOS_OZONE"
CHAIN_BLOCK_SUBJECT = "stratos.chain.block"

INDEX_BUCKETS = (
    MANIFEST_BUCKET,
    LOCATIONS_BUCKET,
    DRAIN_BUCKET,
    RESERVATIONS_BUCKET,
    OZONE_BUCKET,
)


class Role(StrEnum):
    INDEX = "index"
    STORAGE = "storage"
    VALIDATOR = "validator"
    INCENTIVE = "incentive"
    ADMIN = "admin"


@dataclass(frozen=True)
class Permissions:
    """Subjects (NATS wildcards allowed) a user may publish to and subscribe to; nothing else."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def user_label(role: Role, name: str = "") -> str:
    """The user's name in logs, file names and its inbox: `index`, `storage.<id>`, ..."""
    if role in (Role.STORAGE, Role.VALIDATOR, Role.INCENTIVE):
        if not name or "." in name or any(c in name for c in " *>\t"):
            raise ValueError(f"a {role.value} user needs a subject-token name, not {name!r}")
        return f"{role.value}.{name}"
    return role.value


def inbox_prefix(role: Role, name: str = "") -> str:
    """Where this user's request replies arrive (the connection's `inbox_prefix`)."""
    return f"_INBOX.{user_label(role, name)}"


def repair_durable(node_id: str) -> str:
    """The durable pull consumer a storage node reads its repair jobs from."""
    return f"repair-{node_id}"


def permissions(role: Role, name: str = "") -> Permissions:
    """What a user of `role` (named `name`: a storage node's ID, a validator's number) may do."""
    inbox = inbox_prefix(role, name) + ".>"
    if role is Role.INDEX:
        return Permissions(
            publish=(
                "$JS.API.>",  # the index creates, sizes and reads every stream and bucket
                "$JS.FC.>",  # flow-control answers of its ordered consumers (heartbeats, KV)
                "$JS.ACK.>",
                *(f"$KV.{bucket}.>" for bucket in INDEX_BUCKETS),
                REPAIR_JOB_SUBJECT.format(node_id="*"),
                FILE_COMMITTED_SUBJECT,
                FILE_DELETED_SUBJECT,
                AUDIT_RESULT_SUBJECT,
            ),
            subscribe=(inbox, REPAIR_RESULT_WILDCARD),
        )
    if role is Role.STORAGE:
        durable = repair_durable(name)
        jobs = REPAIR_JOB_SUBJECT.format(node_id=name)
        return Permissions(
            publish=(
                HEARTBEAT_SUBJECT.format(node_id=name),
                REPAIR_RESULT_SUBJECT.format(node_id=name),
                RECEIPTS_SUBJECT.format(node_id=name),
                f"$JS.API.CONSUMER.CREATE.{REPAIR_STREAM}.{durable}.{jobs}",
                f"$JS.API.CONSUMER.INFO.{REPAIR_STREAM}.{durable}",
                f"$JS.API.CONSUMER.MSG.NEXT.{REPAIR_STREAM}.{durable}",
                f"$JS.ACK.{REPAIR_STREAM}.{durable}.>",
            ),
            subscribe=(inbox,),
        )
    if role is Role.VALIDATOR:
        user_label(role, name)  # refuses a name that is not one subject token
        return Permissions(publish=(CHAIN_BLOCK_SUBJECT,), subscribe=(inbox,))
    if role is Role.INCENTIVE:
        user_label(role, name)
        kv = f"KV_{REPORTS_BUCKET}"
        return Permissions(
            publish=(
                "$JS.API.INFO",
                *(
                    f"$JS.API.STREAM.{op}.{stream}"
                    for op in ("CREATE", "UPDATE", "INFO", "MSG.GET")
                    for stream in (TRAFFIC_STREAM, kv)
                ),
                *(
                    f"$JS.API.CONSUMER.{op}.{stream}{tail}"
                    for op in ("CREATE", "DELETE")
                    for stream in (TRAFFIC_STREAM, kv)
                    for tail in ("", ".>")
                ),
                f"$JS.API.DIRECT.GET.{kv}.>",
                f"$JS.API.DIRECT.GET.{kv}",
                "$JS.FC.>",
                f"$KV.{REPORTS_BUCKET}.>",
                EPOCH_MARK_SUBJECT,
            ),
            subscribe=(inbox, CHAIN_BLOCK_SUBJECT),
        )
    return Permissions(publish=(">",), subscribe=(">",))


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return i == len(p) - 1 and len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def may_publish(perms: Permissions, subject: str) -> bool:
    return any(matches(p, subject) for p in perms.publish)


def may_subscribe(perms: Permissions, subject: str) -> bool:
    return any(matches(p, subject) for p in perms.subscribe)
