"""The asyncio logger's filters drop the two known noise records and nothing else."""

from __future__ import annotations

import logging
import sys

from stratos.common import asyncio_noise


def _record(msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc else None
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, (), info)


def _passes(record: logging.LogRecord) -> bool:
    return logging.getLogger("asyncio").filter(record)


def test_grpc_late_completion_on_a_closed_loop_is_dropped():
    asyncio_noise.install()
    asyncio_noise.install()  # twice: still one of each
    ours = [f for f in logging.getLogger("asyncio").filters if f in asyncio_noise._FILTERS]
    assert len(ours) == 2
    late = _record(
        "Exception in callback PollerCompletionQueue._handle_events(<_UnixSelectorEventLoop>)()",
        RuntimeError("Event loop is closed"),
    )
    assert not _passes(late)
    assert not _passes(_record("returning true from eof_received() has no effect when using ssl"))


def test_other_asyncio_errors_still_reach_the_log():
    asyncio_noise.install()
    other_error = _record(
        "Exception in callback PollerCompletionQueue._handle_events()", ValueError("boom")
    )
    assert _passes(other_error)
    closed = RuntimeError("Event loop is closed")
    assert _passes(_record("Exception in callback something_else()", closed))
    assert _passes(_record("Task was destroyed but it is pending!"))


def test_the_cli_installs_them_before_running(monkeypatch):
    from stratos.sdk.cli import shared

    logger = logging.getLogger("asyncio")
    monkeypatch.setattr(logger, "filters", [])
    assert shared.run_async(lambda: _noop()) is None
    assert all(f in logger.filters for f in asyncio_noise._FILTERS)
    assert sys.modules.get("stratos.common.asyncio_noise") is asyncio_noise


async def _noop() -> None:
    return None
