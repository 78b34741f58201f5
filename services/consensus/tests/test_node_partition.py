"""A validator cut off from its peers (through the peers' test hook,
STRATOS_TEST_BLOCKED_PEERS_FILE, on both sides of every link) stalls while the other three
go on; once the links are back it catches up and stays on the same chain."""

from __future__ import annotations

import json

import pytest
from node_support import Cluster, Validator

from stratos.common.procs import async_wait_until

pytestmark = pytest.mark.integration


async def cut_off(c: Cluster, i: int) -> None:
    """Cut validator i off, and wait until every validator applies it: the hook re-reads its
    file at most once a second, when a link is used, which a busy machine can delay."""
    others = [v for v in c.nodes if v.index != i]
    blocked = {i: [v.address for v in others], **{v.index: [c.nodes[i].address] for v in others}}
    for j, peers in blocked.items():
        c.nodes[j].blocked_file.write_text("\n".join(peers) + "\n")

    async def applied() -> bool:
        return all(_blocked_now(c.nodes[j]) == sorted(peers) for j, peers in blocked.items())

    await async_wait_until(applied, timeout_s=30, what=f"validator {i} cut off by every hook")


def _blocked_now(v: Validator) -> list[str] | None:
    """The blocked set the validator last logged applying (None before any)."""
    last = None
    for line in (v.data_dir / "stdout.log").read_text().splitlines():
        if '"test_blocked_peers"' in line and line.endswith("}"):  # a whole line only
            last = json.loads(line)["peers"]
    return last


def heal(c: Cluster) -> None:
    for v in c.nodes:
        v.blocked_file.write_text("")


async def test_a_minority_validator_cut_off_rejoins_and_converges(tmp_path) -> None:
    c = Cluster(tmp_path, 4)
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
