"""At shutdown the validator's endless streams (peer pushes, block streams) end as a normal
return before the server's grace period runs out — also one a peer opens after they were
closed, while the server still takes calls."""

from __future__ import annotations

import asyncio

from stratos.consensus.net.servicer import LongCalls


async def _stream(calls: LongCalls, ended: list[str]) -> None:
    with calls.track():
        await asyncio.Event().wait()  # a peer's push stream: never ends by itself
    ended.append("returned")


async def test_open_streams_end_normally_when_closed():
    calls, ended = LongCalls(), []
    task = asyncio.create_task(_stream(calls, ended))
    await asyncio.sleep(0)
    calls.close()
    await asyncio.wait_for(task, 5)
    assert ended == ["returned"] and not task.cancelled()


async def test_a_stream_opened_after_close_ends_at_once_and_normally():
    calls, ended = LongCalls(), []
    calls.close()
    task = asyncio.create_task(_stream(calls, ended))
    await asyncio.wait_for(task, 5)
    assert ended == ["returned"] and not task.cancelled()


async def test_a_cancel_from_elsewhere_is_not_swallowed():
    calls, ended = LongCalls(), []
    task = asyncio.create_task(_stream(calls, ended))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled() and ended == []
