"""Erasure coding of one segment's stored bytes: k data shares plus m parity shares (zfec, a
systematic Reed-Solomon code), any k of which rebuild the segment.

Shared by the SDK (put and get) and by storage repair (which re-encodes only missing shares), so
both sides cut, pad and rebuild bytes identically. Pure functions, no I/O: share `i < k` is the
i-th slice of the stored bytes (the last one zero-padded), share `i >= k` is parity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import zfec

from stratos.common.errors import DataLoss, InvalidArgument
from stratos.common.limits import MAX_SHARES as MAX_SHARES  # re-exported: callers use both
from stratos.common.shown import shown

# At most 9 digits each: int() of a 5000-digit string raises ValueError, and any code that
# long is far past MAX_SHARES anyway.
_EC_RE = re.compile(r"^\s*(\d{1,9})\s*\+\s*(\d{1,9})\s*$")


def parse_ec(text: str) -> tuple[int, int]:
    """ "4+2" → (4, 2): k data shares and m parity shares."""
    match = _EC_RE.match(text or "")
    if not match:
        raise InvalidArgument(
            f"{shown(text)} is not an erasure code; write it as DATA+PARITY shares, e.g. 4+2"
        )
    k, m = int(match.group(1)), int(match.group(2))
    check_code(k, m)
    return k, m


def check_code(k: int, m: int) -> None:
    """One sentence when k data + m parity shares is not a usable code."""
    if k < 1:
        raise InvalidArgument(f"an erasure code needs at least 1 data share, not {k}")
    if m < 1:
        raise InvalidArgument(
            f"an erasure code needs at least 1 parity share, not {m} (use replicas instead)"
        )
    if k + m > MAX_SHARES:
        raise InvalidArgument(
            f"an erasure code has at most {MAX_SHARES} shares in all, not {k}+{m}={k + m}"
        )


def share_size(stored_size: int, k: int) -> int:
    """Bytes in each share of a segment that stores `stored_size` bytes (at least 1)."""
    if k < 1:
        raise InvalidArgument(f"an erasure code needs at least 1 data share, not {k}")
    return max(1, -(-stored_size // k))


def encode(data: bytes, k: int, m: int) -> list[bytes]:
    """The k + m shares of `data`, each share_size(len(data), k) bytes."""
    check_code(k, m)
    size = share_size(len(data), k)
    view = memoryview(data)
    blocks = [bytes(view[i * size : (i + 1) * size]) for i in range(k)]
    del view
    # Only the last data share (or, for data shorter than k bytes, the empty ones) is short.
    blocks = [b if len(b) == size else b.ljust(size, b"\x00") for b in blocks]
    return [bytes(b) for b in zfec.Encoder(k, k + m).encode(tuple(blocks))]


def decode(shares: Mapping[int, bytes], k: int, m: int, size: int) -> bytes:
    """The original `size` bytes from any k of the shares (keyed by share index)."""
    primary = _primary_blocks(shares, k, m, what=f"rebuild {size} bytes")
    if size > k * len(primary[0]):
        raise DataLoss(f"{k} shares of {len(primary[0])} bytes cannot hold {size} bytes")
    parts = []
    left = size
    for block in primary:  # views, so the only copy made is the joined result
        parts.append(memoryview(block)[: min(left, len(block))])
        left -= len(parts[-1])
    return b"".join(parts)


def rebuild(shares: Mapping[int, bytes], k: int, m: int, wanted: Iterable[int]) -> dict[int, bytes]:
    """The shares in `wanted`, recomputed from any k of `shares`, byte-identical to encode's."""
    want = sorted(set(wanted))
    bad = [i for i in want if not 0 <= i < k + m]
    if bad:
        raise InvalidArgument(f"share {bad[0]} does not exist in a {k}+{m} code")
    if not want:
        return {}
    primary = _primary_blocks(shares, k, m, what=f"rebuild share {want[0]}")
    made = zfec.Encoder(k, k + m).encode(tuple(primary), tuple(want))
    return {i: bytes(b) for i, b in zip(want, made, strict=True)}


def _primary_blocks(shares: Mapping[int, bytes], k: int, m: int, *, what: str) -> list[bytes]:
    """The k data shares, decoded from any k available shares (data shares preferred); the
    given buffers are used as they are, not copied."""
    check_code(k, m)
    usable = sorted(i for i in shares if 0 <= i < k + m)
    if len(usable) < k:
        raise DataLoss(f"cannot {what}: only {len(usable)} of the {k} shares needed are available")
    chosen = usable[:k]  # sorted: data shares first, and k data shares need no decoding
    sizes = {len(shares[i]) for i in chosen}
    if len(sizes) != 1 or 0 in sizes:
        raise DataLoss(f"cannot {what}: the shares given differ in size or are empty")
    if chosen == list(range(k)):
        return [shares[i] for i in chosen]
    decoded = zfec.Decoder(k, k + m).decode(tuple(shares[i] for i in chosen), tuple(chosen))
    return list(decoded)
