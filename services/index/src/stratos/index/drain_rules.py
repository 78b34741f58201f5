"""Pure rules of draining a storage node: whether the rest of the mesh can take its chunks
without any file falling below its redundancy target, and how much is left on it."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from stratos.index.pieces import chunk_sizes, union_holders
from stratos.index.repair_plan import FileView, NodeView
from stratos.v1 import types_pb2

LIVE = types_pb2.NODE_STATE_LIVE


@dataclass(frozen=True)
class Load:
    """What the index places on one node."""

    chunks: int = 0
    bytes: int = 0


def node_loads(files: Iterable[FileView]) -> dict[str, Load]:
    """Per node, the distinct chunks (and their bytes) the current locations put on it: a
    chunk two files name is one copy on the node."""
    files = list(files)
    sizes: dict[str, int] = {}
    for f in files:
        sizes.update(chunk_sizes(f.manifest))
    chunks: dict[str, int] = {}
    size: dict[str, int] = {}
    for cid, nodes in union_holders((f.manifest, f.locations) for f in files).items():
        for n in nodes:
            chunks[n] = chunks.get(n, 0) + 1
            size[n] = size.get(n, 0) + sizes.get(cid, 0)
    return {n: Load(chunks[n], size[n]) for n in chunks}


def node_load(files: Iterable[FileView], node_id: str) -> Load:
    """What the current locations put on `node_id`."""
    return node_loads(files).get(node_id, Load())


def copies_needed(manifest: types_pb2.Manifest) -> int:
    """Distinct nodes a file needs: R for replication, k + m for erasure coding."""
    if manifest.HasField("erasure") and manifest.erasure.data_shares:
        return manifest.erasure.data_shares + manifest.erasure.parity_shares
    return max(1, manifest.replicas)


def refusal(
    files: Collection[FileView],
    nodes: dict[str, NodeView],
    node_id: str,
    draining: Collection[str],
) -> str | None:
    """Why draining `node_id` must be refused, or None when the other live nodes (not draining
    themselves) can hold every file's redundancy target and every byte on the node."""
    if node_id not in nodes:
        return f"no storage node {node_id} is known to the index"
    rest = [
        n
        for n in nodes.values()
        if n.state == LIVE and n.node_id != node_id and n.node_id not in draining
    ]
    load = node_load(files, node_id)
    worst = max((f.manifest for f in files), key=copies_needed, default=None)
    if worst is not None and load.chunks and copies_needed(worst) > len(rest):
        need = copies_needed(worst)
        return (
            f"draining {node_id} would leave {len(rest)} live storage nodes, and file "
            f"{worst.file_id} needs {need} distinct nodes; add a node first or lower its redundancy"
        )
    free = sum(n.free_bytes for n in rest)
    if load.bytes > free:
        return (
            f"the other live storage nodes have {free} bytes free, and {node_id} holds "
            f"{load.bytes} bytes; add capacity first"
        )
    return None
