"""Repair yields to clients: a node counts client uploads and reads (not repair's own pulls) and
repair transfers switch to the busy rate while they run."""

from __future__ import annotations

import asyncio

from stratos.storage.activity import LINGER_S, REPAIR_METADATA, Activity, is_repair
from stratos.storage.ratelimit import AdaptiveLimiter


def test_a_transfer_makes_the_node_busy_until_shortly_after_it_ends() -> None:
    now = [100.0]
    act = Activity(clock=lambda: now[0])
    assert not act.busy()
    with act.transfer():
        assert act.busy()
        now[0] += 60  # a long upload stays busy throughout
        assert act.busy()
    assert act.busy()  # the next segment of the same client is a moment away
    now[0] += LINGER_S + 0.01
    assert not act.busy()


def test_repair_pulls_are_recognised_by_their_metadata() -> None:
    assert is_repair([REPAIR_METADATA, ("traceparent", "x")])
    assert not is_repair([("traceparent", "x")])
    assert not is_repair(None)


async def test_the_busy_rate_holds_while_busy_and_the_idle_rate_otherwise(monkeypatch) -> None:
    now = [0.0]
    busy = [True]
    limiter = AdaptiveLimiter(0, 1_000_000, lambda: busy[0], clock=lambda: now[0])
    assert limiter.rate_bytes_s == 1_000_000
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(s: float) -> None:
        slept.append(s)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    await limiter.acquire(250_000)  # the burst (a quarter second) passes at once
    await limiter.acquire(1_000_000)  # then a second's worth must wait about a second
    assert slept and 0.9 < slept[-1] <= 1.3
    busy[0] = False
    slept.clear()
    await limiter.acquire(50_000_000)  # idle: unlimited
    assert slept == []
