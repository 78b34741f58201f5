"""Which workers run a job (pure): those whose storage node already holds the most of its input
bytes, so they read their own disk instead of the network.

A worker runs beside each storage node and reads input chunks from its own node first. For a
job over inputs whose chunks are spread over the mesh, `choose` ranks the live workers by the
input bytes their node holds (from the manifests' holders), breaks ties by a hash of the job's
ID and the node's (so equal nodes share the load across jobs rather than the first one taking
everything), and takes r of them — never two on one node, and never a node that is draining,
lost or suspended (the caller passes only workers that may take work).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from blake3 import blake3

from stratos.common.errors import FailedPrecondition


@dataclass(frozen=True)
class Chunk:
    size: int  # stored bytes
    holders: tuple[str, ...]  # storage nodes holding a copy


def held_bytes(chunks: Iterable[Chunk]) -> dict[str, int]:
    """Input bytes per storage node."""
    out: dict[str, int] = {}
    for c in chunks:
        for node in set(c.holders):
            out[node] = out.get(node, 0) + c.size
    return out


def choose(job_id: bytes, chunks: Iterable[Chunk], workers: Iterable[str], r: int) -> list[str]:
    """The r workers (named by their storage node) for a job over `chunks`, most local first."""
    live = sorted(set(workers))
    if r < 1:
        raise FailedPrecondition("a job needs at least one executor")
    if len(live) < r:
        raise FailedPrecondition(
            f"the job asks for {r} executors and only {len(live)} compute workers are live"
        )
    held = held_bytes(chunks)

    def rank(node: str) -> tuple[int, bytes]:
        return (-held.get(node, 0), blake3(job_id + b"\0" + node.encode()).digest())

    return sorted(live, key=rank)[:r]


def locality(chunks: Iterable[Chunk], executors: Iterable[str]) -> Mapping[str, float]:
    """Per executor, the share of the job's input bytes its own node holds."""
    chunks = list(chunks)
    total = sum(c.size for c in chunks)
    held = held_bytes(chunks)
    return {e: (held.get(e, 0) / total if total else 1.0) for e in executors}
