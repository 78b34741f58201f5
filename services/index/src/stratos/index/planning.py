"""Admission decisions for writes: can this redundancy be placed at all, and what does a chunk
need? Kept apart from the gRPC edge so the sentences a user reads are unit-tested directly."""

from __future__ import annotations

from collections.abc import Sequence

from stratos.common.errors import FailedPrecondition, InvalidArgument
from stratos.common.hashing import is_chunk_id
from stratos.index.placement import place
from stratos.index.registry import Candidate

GCM_TAG_BYTES = 16
MAX_CHUNKS_PER_CALL = 10_000


def _nodes(n: int) -> str:
    return f"{n} storage node{'s' if n != 1 else ''}"


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _has(n: int) -> str:
    return "has" if n == 1 else "have"


def check_replicas(replicas: int, max_replicas: int) -> None:
    if not 1 <= replicas <= max_replicas:
        raise InvalidArgument(f"replicas must be between 1 and {max_replicas}, got {replicas}")


def plan_write(
    replicas: int, size: int, segment_size: int, live: Sequence[Candidate], max_replicas: int
) -> int:
    """Refuse, before any byte is sent, a write the live nodes cannot hold; returns the live count.

    A node "has room" when it can take at least one stored segment of this file."""
    check_replicas(replicas, max_replicas)
    n_live = len(live)
    if n_live < replicas:
        raise FailedPrecondition(
            f"only {_nodes(n_live)} {_are(n_live)} live; {replicas} replicas need at least "
            f"{replicas}"
        )
    one_segment = min(size, segment_size) + GCM_TAG_BYTES
    with_room = [n for n in live if n.free_bytes >= one_segment]
    if len(with_room) < replicas:
        raise FailedPrecondition(
            f"only {len(with_room)} of {n_live} live storage nodes {_has(len(with_room))} room "
            f"for a {one_segment}-byte chunk; {replicas} replicas need at least {replicas}"
        )
    segments = -(-size // segment_size) if size else 1
    needed = replicas * (size + GCM_TAG_BYTES * segments)
    free = sum(n.free_bytes for n in with_room)
    if free < needed:
        raise FailedPrecondition(
            f"the live storage nodes ({n_live}) have {free} bytes free; {replicas} replicas of "
            f"{size} bytes need {needed}"
        )
    return n_live


def place_chunks(
    chunks: Sequence[tuple[str, int]],
    live: Sequence[Candidate],
    replicas: int,
    max_replicas: int,
    exclude: Sequence[str] = (),
    extra: int = 0,
) -> list[tuple[str, list[Candidate]]]:
    """Targets (then fallbacks) for every chunk, or one sentence saying why it cannot be done."""
    check_replicas(replicas, max_replicas)
    if len(chunks) > MAX_CHUNKS_PER_CALL:
        raise InvalidArgument(
            f"at most {MAX_CHUNKS_PER_CALL} chunks can be placed in one call, got {len(chunks)}"
        )
    extra = min(extra, max_replicas)
    out = []
    for chunk_id, size in chunks:
        if not is_chunk_id(chunk_id):
            raise InvalidArgument(
                f"{chunk_id!r} is not a chunk ID (expected 64 lowercase hex characters)"
            )
        targets = place(chunk_id, size, live, replicas, exclude=exclude, extra=extra)
        if len(targets) < replicas:
            n_live = len(live)
            raise FailedPrecondition(
                f"only {len(targets)} of {n_live} live storage nodes can take chunk "
                f"{chunk_id[:12]}… ({size} bytes) after exclusions; {replicas} replicas need "
                f"at least {replicas}"
            )
        out.append((chunk_id, targets))
    return out
