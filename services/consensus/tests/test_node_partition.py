"""A validator cut off from its peers (`faulty_validator.py --blocked-peers-file`, on both sides
of every link) stalls while the other three go on; once the links are back it catches up and
stays on the same chain."""

from __future__ import annotations

import pytest
from node_support import Cluster

pytestmark = pytest.mark.integration


async def cut_off(c: Cluster, i: int) -> None:
    """Cut validator i off on both sides of every link, and wait until every hook applied it."""
    others = [v for v in c.nodes if v.index != i]
    await c.block(
        {i: [v.address for v in others], **{v.index: [c.nodes[i].address] for v in others}}
    )


def heal(c: Cluster) -> None:
    for v in c.nodes:
        v.blocked_file.write_text("")


async def test_a_minority_validator_cut_off_rejoins_and_converges(tmp_path) -> None:
    c = Cluster(tmp_path, 4, faulty=True)
    c.start_all()
    try:
        await c.wait_heights(2)
        await cut_off(c, 0)
        isolated = (await c.heights([0]))[0]
        majority = max((await c.heights([1, 2, 3])).values())
        await c.wait_heights(majority + 4, nodes=[1, 2, 3])
        assert (await c.heights([0]))[0] <= isolated + 1, "an isolated validator cannot commit"

        heal(c)
        target = max((await c.heights([1, 2, 3])).values()) + 1
        await c.wait_heights(target, nodes=[0, 1, 2, 3], timeout_s=30)
        assert await c.assert_same_chain() >= target
    finally:
        await c.close()
