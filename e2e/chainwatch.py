"""Watching a local mesh's chain settle Proof-of-Traffic epochs, through the CLI as a user
would (`stratos chain epoch`)."""

from __future__ import annotations

import time

from e2e.conftest import Mesh
from stratos.common.identity import address_of, load_or_create

SETTLE_TIMEOUT_S = 150.0  # a few 20-block epochs of one block a second, on a busy machine


def storage_address(mesh: Mesh, name: str) -> str:
    return address_of(load_or_create(mesh.home / "run" / name / "identity.pem").public_bytes)


class Settled:
    """Every epoch report the chain settles while we watch, by epoch."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.reports: dict[int, dict] = {}

    def poll(self) -> dict:
        doc = self.mesh.json("chain", "epoch")
        last = doc["last_settled"]
        if last is not None:
            self.reports[last["epoch"]] = last
        return doc

    def fill(self, epochs) -> None:
        """Fetch every settled epoch of `epochs` not seen by polling (several can settle
        between two polls when settlement catches up on a busy machine), as `stratos rewards`
        finds them in the chain's blocks."""
        missing = [e for e in epochs if e not in self.reports]
        if not missing:
            return
        next_to_settle = self.poll()["next_to_settle"]
        count = next_to_settle - min(missing)
        if count <= 0:
            return
        for ep in self.mesh.json("rewards", "--epochs", str(count))["epochs"]:
            self.reports.setdefault(ep["epoch"], ep)

    def bytes_at(self, address: str, epochs) -> int:
        epochs = list(epochs)
        self.fill(epochs)
        return sum(
            t["bytes"]
            for e in epochs
            for t in self.reports.get(e, {}).get("traffic", [])
            if t["node"] == address
        )

    def until_settled(self, epoch: int, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Watch (every second) until `epoch` is settled (`fill` finds any epoch that settled
        between two looks)."""
        deadline = time.monotonic() + timeout_s
        while self.poll()["next_to_settle"] <= epoch:
            assert time.monotonic() < deadline, f"epoch {epoch} did not settle"
            time.sleep(1.0)
