"""Audits decided as data: which chunk copies to challenge, what to ask, what the right answer
is and what an answer means. Pure — the caller passes the RNG and the nonce, and feeds the
chunk's bytes in — so every rule is unit-tested directly; `auditor.py` does the I/O.

A challenge is a fresh nonce and a few byte ranges; the answer is
BLAKE3-256(nonce || bytes of each range in order), which only a node holding those bytes can
compute (the storage node's side is services/storage/.../audit.py). The index keeps no data, so
it learns the right answer by streaming the chunk from another holder, checking the chunk's
BLAKE3 against its ID and keeping only the challenged ranges (at most 1 MiB): memory stays
bounded whatever the chunk size.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from stratos.common.errors import (
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from stratos.common.hashing import new_hasher
from stratos.index.pieces import chunk_sizes, holders
from stratos.index.registry import LIVE
from stratos.index.repair_plan import FileView, NodeView
from stratos.v1 import types_pb2

MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 1024
MAX_RANGES = 4
MAX_AUDIT_BYTES = 1024 * 1024

PASSED = ""
WRONG_DIGEST = "wrong digest"
CHUNK_MISSING = "chunk missing"
CHUNK_CORRUPT = "chunk corrupt"
UNREACHABLE = "node unreachable"
REFUSED = "challenge refused"
# Reasons that prove the node does not hold the chunk's bytes: the copy is written off and
# repair re-creates it. Unreachable is the failure detector's business, and a refused challenge
# is our own mistake, not the node's.
DATA_FAILURES = frozenset({WRONG_DIGEST, CHUNK_MISSING, CHUNK_CORRUPT})


@dataclass(frozen=True)
class Target:
    """One chunk copy to challenge, with the other live holders that can supply the answer."""

    file_id: str
    chunk_id: str
    size: int  # bytes the manifest says the chunk has (a hint for deadlines)
    node_id: str
    others: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True)
class Challenge:
    nonce: bytes
    ranges: tuple[Range, ...]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str = PASSED

    @property
    def write_off(self) -> bool:
        """True when the node provably lost the copy, so its holding must be removed."""
        return self.reason in DATA_FAILURES


def pick_targets(
    files: Sequence[FileView],
    nodes: Mapping[str, NodeView],
    count: int,
    rng: random.Random,
) -> list[Target]:
    """Up to `count` distinct (chunk, live holder) pairs to challenge this round.

    Nodes are drawn first, uniformly among the live nodes that hold something, and then one of
    their chunks: a node holding a few chunks is audited as often as one holding millions, so
    every node is checked regularly. When `count` exceeds the nodes, they are drawn again."""
    if count < 0:
        raise InvalidArgument(f"the number of audits per round must not be negative, not {count}")
    by_node: dict[str, dict[str, Target]] = {}
    for f in files:
        where = holders(f.manifest, f.locations)
        for cid, size in chunk_sizes(f.manifest).items():
            if size < 1:
                continue  # no byte to challenge
            live = [n for n in dict.fromkeys(where.get(cid, ())) if _live(nodes, n)]
            for n in live:
                others = tuple(o for o in live if o != n)
                by_node.setdefault(n, {}).setdefault(
                    cid, Target(f.manifest.file_id, cid, size, n, others)
                )
    pools = {n: list(chunks.values()) for n, chunks in by_node.items()}
    picked: list[Target] = []
    seen: set[tuple[str, str]] = set()
    order = sorted(pools)
    while len(picked) < count and order:
        rng.shuffle(order)
        for n in order[: count - len(picked)]:
            t = rng.choice(pools[n])
            if (t.chunk_id, n) in seen:  # only when a node is drawn twice in a round
                t = rng.choice([x for x in pools[n] if (x.chunk_id, n) not in seen])
            seen.add((t.chunk_id, n))
            picked.append(t)
        order = [n for n in order if sum(1 for c, m in seen if m == n) < len(pools[n])]
    return picked


def still_held(t: Target, current: types_pb2.FileLocations) -> Target | None:
    """The target against the file's current locations (the pick used an older view): None
    when the node no longer holds the chunk (written off meanwhile), else with the other holders
    that are still listed."""
    for loc in current.chunks:
        if loc.chunk_id == t.chunk_id:
            now = set(loc.node_ids)
            if t.node_id not in now:
                return None
            return replace(t, others=tuple(o for o in t.others if o in now))
    return t


def _live(nodes: Mapping[str, NodeView], node_id: str) -> bool:
    view = nodes.get(node_id)
    return view is not None and view.state == LIVE


def make_challenge(size: int, nonce: bytes, rng: random.Random) -> Challenge:
    """1 to 4 random non-empty ranges inside a chunk of `size` bytes, at most 1 MiB in all."""
    if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        raise InvalidArgument(
            f"an audit nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes, not {len(nonce)}"
        )
    if size < 1:
        raise InvalidArgument(f"a chunk of {size} bytes has no byte to challenge")
    n = rng.randint(1, MAX_RANGES)
    longest = max(1, min(size, MAX_AUDIT_BYTES // n))
    ranges = []
    for _ in range(n):
        length = rng.randint(1, longest)
        ranges.append(Range(rng.randint(0, size - length), length))
    return Challenge(bytes(nonce), tuple(ranges))


class ExpectedAnswer:
    """Fed a chunk's bytes in order: checks them against the chunk ID and keeps the challenged
    ranges, to give the digest an honest holder must answer."""

    def __init__(self, chunk_id: str, size: int, challenge: Challenge | None = None) -> None:
        self.chunk_id, self.size, self.challenge = chunk_id, size, challenge
        self._hasher = new_hasher()
        self._got = 0
        self._ranges = challenge.ranges if challenge else ()
        for r in self._ranges:
            if r.length < 1 or r.offset < 0 or r.end > size:
                raise InvalidArgument(
                    f"byte range {r.offset}+{r.length} is not inside chunk {chunk_id} "
                    f"({size} bytes)"
                )
        self._parts = [bytearray() for _ in self._ranges]

    def feed(self, piece: bytes | memoryview) -> None:
        start, end = self._got, self._got + len(piece)
        if end > self.size:
            raise DataLoss(f"chunk {self.chunk_id} has more than the {self.size} bytes announced")
        self._hasher.update(piece)
        view = memoryview(piece)
        for r, part in zip(self._ranges, self._parts, strict=True):
            lo, hi = max(r.offset, start), min(r.end, end)
            if lo < hi:
                part += view[lo - start : hi - start]
        self._got = end

    def digest(self) -> bytes:
        """The expected answer (empty without a challenge); DataLoss when the bytes fed are not
        the chunk."""
        if self._got != self.size or self._hasher.hexdigest() != self.chunk_id:
            raise DataLoss(f"the bytes read do not hash to chunk {self.chunk_id}")
        if self.challenge is None:
            return b""
        return audit_digest(self.challenge.nonce, self._parts)


def audit_digest(nonce: bytes, range_bytes: Iterable[bytes | bytearray]) -> bytes:
    """BLAKE3-256(nonce || range_bytes[0] || range_bytes[1] ...)."""
    hasher = new_hasher()
    hasher.update(nonce)
    for part in range_bytes:
        hasher.update(part)
    return hasher.digest()


def expected_digest(chunk_id: str, data: bytes, challenge: Challenge) -> bytes:
    """The right answer computed from a whole chunk in memory (small chunks, tests)."""
    check = ExpectedAnswer(chunk_id, len(data), challenge)
    check.feed(data)
    return check.digest()


def judge_answer(expected: bytes, answer: bytes) -> Verdict:
    return Verdict(True) if answer == expected else Verdict(False, WRONG_DIGEST)


def judge_error(err: BaseException) -> Verdict:
    """What a failed challenge (or a failed read of the node's copy) says about the node."""
    if isinstance(err, NotFound):
        return Verdict(False, CHUNK_MISSING)
    if isinstance(err, DataLoss):
        return Verdict(False, CHUNK_CORRUPT)
    if isinstance(err, InvalidArgument | FailedPrecondition | PermissionDenied):
        return Verdict(False, REFUSED)
    return Verdict(False, UNREACHABLE)
