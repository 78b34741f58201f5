"""The incentive figures' workload is what the issue names, and the tally and the ledger accept
all of it (a refused receipt or report would make the figures measure refusals)."""

from __future__ import annotations

from bench.incentive import NODES, _World


def test_an_honest_epoch_is_counted_whole_and_settles() -> None:
    world = _World(3_000)
    tally, _ = world.tally(world.batches)  # asserts that no receipt was refused
    counted = tally.counts
    assert counted.receipts == 3_000
    assert sum(counted.bytes_by_node.values()) == 3_000 << 20
    assert sum(counted.ozone_by_payer.values()) == 3_000 << 20
    assert len(counted.bytes_by_node) <= NODES
    took, size = world.settle_s(tally)  # asserts that the ledger applied it
    assert took > 0 and size > 0
