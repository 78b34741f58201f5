"""Filters for asyncio's logger: two messages our libraries make it print that are noise, not
news — and, in the CLI, a traceback on stderr where the user expects one sentence."""

from __future__ import annotations

import logging


class _QuietTlsEof(logging.Filter):
    """nats-py's stream protocol answers a peer's EOF with True, which asyncio's SSL transport
    ignores and reports as a warning on every close of a TLS connection (as every NATS
    connection now is): noise, and not a JSON line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


class _QuietGrpcClosedLoop(logging.Filter):
    """grpc.aio's poller thread hands a late completion (a call cancelled as its channel
    closed) to the event loop it was created on; when `asyncio.run` has already closed that
    loop, asyncio logs "Exception in callback PollerCompletionQueue._handle_events" with a
    RuntimeError traceback. The call was already over; nothing is lost."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "PollerCompletionQueue._handle_events" not in record.getMessage():
            return True
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, RuntimeError) and "Event loop is closed" in str(exc))


_FILTERS = (_QuietTlsEof(), _QuietGrpcClosedLoop())


def install() -> None:
    """Add the filters to the asyncio logger; calling it again changes nothing."""
    logger = logging.getLogger("asyncio")
    for f in _FILTERS:
        if f not in logger.filters:
            logger.addFilter(f)
