"""Logs go to the process's stdout as it is now, even after it was replaced and the old one
closed (pytest's capture does this between tests; a CLI command run in-process too)."""

import io
import sys

import structlog

from stratos.common.logging import configure_logging, get_logger


def test_a_logger_follows_stdout_after_the_old_one_is_closed(monkeypatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    try:
        configure_logging("logtest")
        log = get_logger("logtest")
        log.info("before_swap")
        first.close()
        monkeypatch.setattr(sys, "stdout", second)
        log.info("after_swap")
    finally:
        structlog.reset_defaults()
    assert '"event": "after_swap"' in second.getvalue()
