"""Asking the index to drain a storage node (move every chunk it holds to other nodes) before
the operator removes it.

The operator depends only on the small `Drainer` interface, so the scale-down logic is tested
with an in-memory drainer and the real call can land without touching it.

TODO(issue 4): `IndexService.DrainNode(node_id)` is not in proto/stratos/v1/index.proto yet.
When it lands, `IndexDrainer.drain` calls it (idempotent: the first call starts the drain, later
calls report progress) and maps its answer to a `DrainReport`; the RPC must refuse — rather than
start — a drain that would leave some chunk with fewer than its redundancy target of copies, and
must forget a node's drain when the node is scaled back up (a `CancelDrain`, or a drain keyed to
the node's incarnation), or a re-added ordinal would never receive chunks again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class DrainState(enum.Enum):
    DRAINING = "draining"  # started or in progress; ask again later
    DRAINED = "drained"  # the node holds nothing the mesh needs: it may go
    REFUSED = "refused"  # draining would break redundancy, or the index cannot drain at all


@dataclass(frozen=True)
class DrainReport:
    state: DrainState
    message: str = ""


class Drainer(Protocol):
    async def drain(self, node_id: str) -> DrainReport:
        """Start draining `node_id` or report how far it got (idempotent)."""
        ...


class IndexDrainer:
    """Drains through the index's gRPC API at `address` (host:port)."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def drain(self, node_id: str) -> DrainReport:
        # TODO(issue 4): call IndexService.DrainNode at self.address once the RPC exists.
        return DrainReport(
            DrainState.REFUSED,
            f"the index at {self.address} has no DrainNode API yet, so {node_id} cannot be "
            "drained safely",
        )
