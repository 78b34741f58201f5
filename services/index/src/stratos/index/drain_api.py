"""The drain and health RPCs of the index, kept out of the servicer: start, cancel and follow a
drain; summarise the mesh's redundancy. Drains answer from the catalog brought up to date
first (`Catalog.sync`), so a file committed a moment ago counts; health from the repair loop's
last round. Each costs what is on the node asked about, not what is stored."""

from __future__ import annotations

from collections import Counter

from stratos.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from stratos.index.drain_rules import Load, refusal
from stratos.index.drains import HOLDING_OFF, DrainRegistry
from stratos.index.manifests import now_ms
from stratos.index.repair_health import eta
from stratos.index.repair_loop import RepairLoop
from stratos.index.repair_plan import FileView
from stratos.v1 import index_pb2, types_pb2

MAX_LOST_FILES = 100  # GetHealth names at most this many unrecoverable files


def _read(repair: RepairLoop) -> None:
    if repair.health is None:
        raise Unavailable("the index has not read the mesh yet; try again in a few seconds")


async def _on_node(repair: RepairLoop, node_id: str) -> tuple[list[FileView], Load]:
    """The files with a copy on `node_id` and what it holds, as stored now."""
    state = await repair.catalog.sync()
    return state.views(state.files_on(node_id)), state.load(node_id)


async def drain_node(
    repair: RepairLoop, drains: DrainRegistry, request: index_pb2.DrainNodeRequest
) -> index_pb2.DrainStatus:
    node_id = request.node_id
    if not node_id:
        raise InvalidArgument("name the storage node to drain")
    _read(repair)
    files, load = await _on_node(repair, node_id)
    nodes = repair.current_nodes()
    current = drains.get(node_id)
    holding_off = current is not None and current.state in HOLDING_OFF
    if request.cancel:
        if not holding_off:
            raise FailedPrecondition(f"{node_id} is not being drained")
        await drains.forget(node_id)
        return index_pb2.DrainStatus(node_id=node_id, state=index_pb2.DRAIN_STATE_CANCELLED)
    if holding_off:
        return await drain_status(repair, drains, node_id)
    why = refusal(files, nodes, node_id, drains.draining())
    if why is not None:
        raise FailedPrecondition(f"cannot drain {node_id}: {why}")
    status = index_pb2.DrainStatus(
        node_id=node_id,
        state=index_pb2.DRAIN_STATE_DRAINING,
        chunks_left=load.chunks,
        bytes_left=load.bytes,
        chunks_at_start=load.chunks,
        bytes_at_start=load.bytes,
        started_unix_ms=now_ms(),
    )
    await drains.put(status)
    return status


async def drain_status(
    repair: RepairLoop, drains: DrainRegistry, node_id: str
) -> index_pb2.DrainStatus:
    current = drains.get(node_id)
    if current is None:
        raise NotFound(f"{node_id} is not being drained")
    _read(repair)
    _, load = await _on_node(repair, node_id)
    out = index_pb2.DrainStatus()
    out.CopyFrom(current)
    out.chunks_left, out.bytes_left = load.chunks, load.bytes
    if current.state == index_pb2.DRAIN_STATE_DRAINING and load.chunks == 0:
        out.state = index_pb2.DRAIN_STATE_DRAINED
        await drains.put(out)
    return out


def health(
    repair: RepairLoop, drains: DrainRegistry, statuses: list[types_pb2.NodeStatus]
) -> index_pb2.GetHealthResponse:
    h = repair.health
    if h is None:
        raise Unavailable("the index has not read the mesh yet; try again in a few seconds")
    rate = repair.repair_bytes_per_s()
    outstanding = repair.outstanding.jobs()
    jobs = Counter(j.target_node_id for j in outstanding)
    eta_s, eta_reason = eta(h, rate, len(outstanding))
    loads = repair.catalog.state.loads()
    draining = drains.draining()
    nodes = [
        index_pb2.NodeHealth(
            node_id=s.info.node_id,
            state=s.state,
            chunks=h.node_chunks.get(s.info.node_id, 0),
            bytes=loads.get(s.info.node_id, Load()).bytes,
            draining=s.info.node_id in draining,
            jobs_outstanding=jobs.get(s.info.node_id, 0),
        )
        for s in sorted(statuses, key=lambda s: s.info.node_id)
    ]
    lost = [f for f in h.files if f.state == "unrecoverable"][:MAX_LOST_FILES]
    return index_pb2.GetHealthResponse(
        files=h.file_count,
        healthy=h.healthy,
        degraded=h.degraded,
        repairing=h.repairing,
        unrecoverable=h.unrecoverable,
        bytes_to_repair=h.bytes_to_repair,
        repair_bytes_per_s=rate,
        eta_s=eta_s,
        eta_reason=eta_reason,
        nodes=nodes,
        bytes_stuck=h.bytes_stuck,
        bytes_lost=h.bytes_lost,
        stuck=[
            index_pb2.StuckReason(reason=g.reason, chunks=g.chunks, bytes=g.bytes) for g in h.stuck
        ],
        lost_files=[index_pb2.LostFile(file_id=f.file_id, reason=f.reason) for f in lost],
        waiting_on=h.waiting_on,
    )
