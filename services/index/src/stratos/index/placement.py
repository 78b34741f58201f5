"""Where a chunk goes: weighted rendezvous (highest-random-weight) hashing.

Every (node, chunk) pair gets a score from a hash; the chunk goes to the best-scoring nodes.
Nobody has to store a table, every index replica computes the same answer, and when a node
joins only the chunks it now wins move (about 1/(n+1) of them). Weighting by free bytes with
score = -w / ln(u) makes a node win with probability w / sum(w) (Schindelhauer & Schomaker,
"Weighted distributed hash tables", 2005), so emptier nodes fill up faster.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from blake3 import blake3

from stratos.index.registry import Candidate

_TWO_53 = float(1 << 53)


def unit_hash(node_id: str, chunk_id: str) -> float:
    """A uniform value strictly inside (0, 1) from BLAKE3(node_id || 0x00 || chunk_id).

    The top 53 bits fill a double's mantissa exactly; the half-step offset keeps 0 and 1 out,
    so ln(u) is finite and non-zero."""
    digest = blake3(node_id.encode() + b"\x00" + chunk_id.encode()).digest(length=8)
    top53 = int.from_bytes(digest, "big") >> 11
    return (top53 + 0.5) / _TWO_53


def weight(free_bytes: int) -> int:
    """Free bytes, at least 1 so a nearly full node keeps a (tiny) chance rather than none."""
    return max(1, free_bytes)


def score(node: Candidate, chunk_id: str) -> float:
    return score_of(node.node_id, node.free_bytes, chunk_id)


def score_of(node_id: str, weighed_bytes: int, chunk_id: str) -> float:
    """`score` without a Candidate: a planner ranking thousands of chunks makes none."""
    return -weight(weighed_bytes) / math.log(unit_hash(node_id, chunk_id))


def rank(chunk_id: str, candidates: Iterable[Candidate]) -> list[Candidate]:
    """All candidates, best first; ties (practically impossible) broken by node ID."""
    return sorted(candidates, key=lambda n: (-score(n, chunk_id), n.node_id))


def place(
    chunk_id: str,
    size: int,
    candidates: Sequence[Candidate],
    replicas: int,
    exclude: Iterable[str] = (),
    extra: int = 0,
) -> list[Candidate]:
    """The `replicas` targets for a chunk of `size` bytes, then up to `extra` fallbacks.

    Excluded nodes and nodes without `size` free bytes are never chosen. Targets prefer zones
    not used yet, so copies survive a zone outage when there are enough zones; then the best
    remaining nodes fill the rest. Returns fewer than `replicas` only when too few candidates
    qualify; the caller decides what that means.
    """
    skip = set(exclude)
    ranked = rank(
        chunk_id, (n for n in candidates if n.node_id not in skip and n.free_bytes >= size)
    )
    chosen: list[Candidate] = []
    taken: set[str] = set()
    zones: set[str] = set()
    for node in ranked:
        if len(chosen) >= replicas:
            break
        if node.zone not in zones:
            chosen.append(node)
            taken.add(node.node_id)
            zones.add(node.zone)
    for node in ranked:
        if len(chosen) >= replicas:
            break
        if node.node_id not in taken:
            chosen.append(node)
            taken.add(node.node_id)
    fallbacks = [n for n in ranked if n.node_id not in taken][: max(0, extra)]
    return chosen + fallbacks
