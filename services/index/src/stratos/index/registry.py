"""Which storage nodes exist and whether they are alive, decided from their heartbeats alone.

Pure: no clock, no I/O. The heartbeat consumer feeds `Registry.observe`; callers pass `now_ms`.
A node's age is measured from the `sent_unix_ms` its own heartbeat carries, so an index that
(re)starts and replays a stale heartbeat from the stream sees at once that the node is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stratos.common.limits import NODE_ID_PATTERN
from stratos.v1 import events_pb2, types_pb2

_NODE_ID = re.compile(NODE_ID_PATTERN)

NodeState = types_pb2.NodeState
LIVE = types_pb2.NODE_STATE_LIVE
SUSPECT = types_pb2.NODE_STATE_SUSPECT
LOST = types_pb2.NODE_STATE_LOST


def node_state(
    last_ms: int, now_ms: int, suspect_after_s: float, lost_after_s: float
) -> types_pb2.NodeState.ValueType:
    """LIVE within the suspect grace, SUSPECT until the lost grace, LOST after that."""
    silent_ms = now_ms - last_ms
    if silent_ms >= lost_after_s * 1000:
        return LOST
    if silent_ms >= suspect_after_s * 1000:
        return SUSPECT
    return LIVE


@dataclass(frozen=True)
class NodeRecord:
    """The newest heartbeat the index has from one node."""

    info: types_pb2.NodeInfo
    last_ms: int
    chunk_count: int

    @property
    def node_id(self) -> str:
        return self.info.node_id

    @property
    def free_bytes(self) -> int:
        """Capacity minus used; negative when a node is over its capacity."""
        return self.info.capacity_bytes - self.info.used_bytes


@dataclass(frozen=True)
class Candidate:
    """What placement needs to know about a live node."""

    node_id: str
    address: str
    zone: str
    free_bytes: int


class Registry:
    """Latest heartbeat per node; older or equal-time heartbeats never overwrite newer ones
    (JetStream may redeliver, and two nodes' clocks are not ours to trust for ordering)."""

    def __init__(
        self, suspect_after_s: float, lost_after_s: float, watching_since_ms: int = 0
    ) -> None:
        self.suspect_after_s = suspect_after_s
        self.lost_after_s = lost_after_s
        # When this index began to listen: a node is judged LOST only by silence the index
        # itself watched for the whole grace. A restarted index replays heartbeats older than
        # the grace (the node beat on while the index was away, but its newest beat is not
        # read yet); calling it LOST then would repair copies of a node that is alive.
        self.watching_since_ms = watching_since_ms
        self._nodes: dict[str, NodeRecord] = {}
        # nodes the ledger suspended (slashed past its threshold): alive, but given nothing new
        self.suspended: frozenset[str] = frozenset()

    def observe(self, hb: events_pb2.Heartbeat) -> bool:
        """Record a heartbeat; True when it was newer than what we had (and so was kept).

        A node ID our storage nodes could not have (a stranger's, with control characters or
        longer than manifests allow for) is never registered, so nothing is placed on it."""
        node_id = hb.node.node_id
        if not _NODE_ID.fullmatch(node_id):
            return False
        known = self._nodes.get(node_id)
        if known is not None and hb.sent_unix_ms <= known.last_ms:
            return False
        info = types_pb2.NodeInfo()
        info.CopyFrom(hb.node)
        self._nodes[node_id] = NodeRecord(info, hb.sent_unix_ms, hb.chunk_count)
        return True

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, node_id: str) -> NodeRecord | None:
        return self._nodes.get(node_id)

    def state_of(self, record: NodeRecord, now_ms: int) -> types_pb2.NodeState.ValueType:
        state = node_state(record.last_ms, now_ms, self.suspect_after_s, self.lost_after_s)
        if state == LOST and now_ms - self.watching_since_ms < self.lost_after_s * 1000:
            return SUSPECT  # silent, but not for a whole grace that this index watched
        return state

    def statuses(self, now_ms: int) -> list[types_pb2.NodeStatus]:
        """Every known node with its state, sorted by node ID."""
        return [
            types_pb2.NodeStatus(
                info=rec.info,
                state=self.state_of(rec, now_ms),
                last_heartbeat_unix_ms=rec.last_ms,
                chunk_count=rec.chunk_count,
            )
            for rec in sorted(self._nodes.values(), key=lambda r: r.node_id)
        ]

    def candidates(self, now_ms: int) -> list[Candidate]:
        """Live nodes only: a suspect node must not receive new chunks, nor one the ledger
        suspended."""
        return [
            Candidate(rec.node_id, rec.info.address, rec.info.zone, rec.free_bytes)
            for rec in sorted(self._nodes.values(), key=lambda r: r.node_id)
            if self.state_of(rec, now_ms) == LIVE and rec.node_id not in self.suspended
        ]

    def node_keys(self) -> list[tuple[str, bytes]]:
        """(node ID, public key) of every known node."""
        return [(r.node_id, bytes(r.info.public_key)) for r in self._nodes.values()]
