"""JetStream setup outlasts a cluster that cannot answer yet, and still gives up in bounded time."""

import nats.errors
import pytest
from nats.js.errors import BadRequestError, ServiceUnavailableError

from stratos.common import natsutil


def _failing(errors: list[Exception]):
    calls = []

    async def attempt():
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "done"

    return attempt, calls


async def test_a_stream_set_up_while_the_cluster_elects_is_retried_until_it_answers(monkeypatch):
    monkeypatch.setattr(natsutil.asyncio, "sleep", _no_sleep)
    attempt, calls = _failing(
        [nats.errors.TimeoutError(), nats.errors.NoRespondersError(), ServiceUnavailableError()]
    )
    assert await natsutil._until_jetstream_answers("S", attempt, ready_s=60) == "done"
    assert len(calls) == 4


async def test_a_cluster_that_never_answers_fails_after_the_deadline(monkeypatch):
    clock = iter(range(0, 10_000))
    monkeypatch.setattr(natsutil.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(natsutil.asyncio, "sleep", _no_sleep)
    attempt, calls = _failing([nats.errors.TimeoutError() for _ in range(100)])
    with pytest.raises(nats.errors.TimeoutError):
        await natsutil._until_jetstream_answers("S", attempt, ready_s=5)
    assert 1 < len(calls) < 10


async def test_a_refusal_is_not_retried(monkeypatch):
    monkeypatch.setattr(natsutil.asyncio, "sleep", _no_sleep)
    attempt, calls = _failing([BadRequestError()])
    with pytest.raises(BadRequestError):
        await natsutil._until_jetstream_answers("S", attempt, ready_s=60)
    assert len(calls) == 1


async def _no_sleep(_s):
    return None
