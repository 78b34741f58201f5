"""Range checks for integers that come from strangers: gRPC requests, and the signed manifests
and txs they carry. A proto type says what can be encoded (any uint64), not what a service can
act on; a value outside that is refused at the edge — InvalidArgument, one sentence naming the
field and its range — before it overflows something deeper in: a SQLite column, a date, a
protobuf field of a narrower type, or a loop over "every copy" (issue 9)."""

from __future__ import annotations

from stratos.common.errors import InvalidArgument

# 9999-12-31 23:59:59.999 UTC: the last instant a calendar date (Python's datetime) can show.
MAX_UNIX_MS = 253_402_300_799_999


def check_range(what: str, value: int, lo: int, hi: int) -> int:
    """`value` if lo <= value <= hi, else InvalidArgument naming `what` and the range."""
    if not lo <= value <= hi:
        raise InvalidArgument(f"{what} must be between {lo} and {hi}, not {value}")
    return value
