"""Which files a repair round plans, decided as data. Pure.

A round plans the files something happened to, not every file stored:
- a node whose state, address, zone or capacity changed, that appeared or went, or that began
  or ended a drain changes what its copies count for — its files are planned (`files_on`);
- a node *entering service* (new, or back to LIVE) may now rank first for any chunk, so every
  file is due for rebalancing — but not urgently: they go into the `Sweep`, planned a bounded
  batch per round, as the periodic safety-net sweep is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping

from stratos.index.registry import LIVE
from stratos.index.repair_plan import NodeView

NodeKey = tuple[int, str, str, int]  # what of a node a plan depends on, free bytes aside


def node_keys(nodes: Mapping[str, NodeView]) -> dict[str, NodeKey]:
    return {n: (v.state, v.address, v.zone, v.capacity_bytes) for n, v in nodes.items()}


def node_changes(
    before: Mapping[str, NodeKey],
    after: Mapping[str, NodeKey],
    draining_before: Collection[str],
    draining_after: Collection[str],
) -> tuple[set[str], bool]:
    """(the nodes whose files must be planned again, whether some node entered service).

    Free bytes are left out: they change with every write, and only decide where a copy a
    chunk already needs goes (such chunks are planned every round until settled)."""
    changed = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
    changed |= set(draining_before) ^ set(draining_after)
    entered = any(
        (new := after.get(n)) is not None
        and new[0] == LIVE
        and ((old := before.get(n)) is None or old[0] != LIVE or old[3] != new[3])
        for n in changed
    )
    return changed, entered


class Sweep:
    """Files waiting to be planned, a batch at a time, each once however often it is queued."""

    def __init__(self) -> None:
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, file_ids: Iterable[str]) -> None:
        for f in sorted(set(file_ids) - self._queued):
            self._queue.append(f)
            self._queued.add(f)

    def take(self, count: int) -> list[str]:
        out: list[str] = []
        while self._queue and len(out) < count:
            f = self._queue.popleft()
            self._queued.discard(f)
            out.append(f)
        return out
