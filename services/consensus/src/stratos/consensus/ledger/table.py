"""A persistent (immutable, cheaply updated) map of address → record with an incremental hash.

The ledger holds one entry per account, so anything a block does per entry makes a block cost
grow with the chain's age. A `HashedTable` keeps its entries in `BUCKETS` buckets chosen by a
hash of the key; an update copies and rehashes only the buckets it touches, so a block costs
O(entries it changes), not O(entries).

The hash (every validator computes the same one; `apphash` documents how it is combined):

- a record is `u32 len(key) ‖ key ‖ u32 len(value) ‖ value`, with the key UTF-8 and the value
  the codec's canonical bytes;
- an entry's bucket is the first two bytes of BLAKE3(key), big-endian, modulo `BUCKETS`;
- a bucket's digest is BLAKE3 of its records concatenated in ascending key order (an empty
  bucket: BLAKE3 of nothing);
- the table's root is BLAKE3(`domain` ‖ the `BUCKETS` digests in bucket order).

Keys are chosen by whoever sends STOS, so someone paying fees can crowd one bucket; that bucket
then costs what the whole table used to, the others stay cheap.

Each updated table remembers the token of the table it was derived from and the changes, so the
store can write just those rows when it holds the parent (`parent_token`, `changes`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from blake3 import blake3

V = TypeVar("V")

BUCKETS = 4096  # a power of two: enough that a block's touched buckets stay small at 10^6 keys
_U32 = struct.Struct(">I")
_EMPTY = blake3(b"").digest()


@dataclass(frozen=True)
class Codec(Generic[V]):
    """How one kind of entry becomes canonical bytes and back; `domain` names it in the hash."""

    domain: bytes
    encode: Callable[[V], bytes]
    decode: Callable[[bytes], V]  # DataLoss for bytes it cannot read


@lru_cache(maxsize=1 << 17)  # the same few addresses are read many times per tx and block
def bucket_of(key: str) -> int:
    return int.from_bytes(blake3(key.encode()).digest(length=2), "big") % BUCKETS


def record(key: str, value: bytes) -> bytes:
    k = key.encode()
    return _U32.pack(len(k)) + k + _U32.pack(len(value)) + value


def _digest(records: Mapping[str, bytes]) -> bytes:
    if not records:
        return _EMPTY
    return blake3(b"".join([records[k] for k in sorted(records)])).digest()


class HashedTable(Mapping[str, V]):
    """An immutable map; `updated` returns a new one sharing every untouched bucket."""

    __slots__ = (
        "_buckets",
        "_digests",
        "_len",
        "_records",
        "_root",
        "changes",
        "codec",
        "parent_token",
        "token",
    )

    def __init__(
        self,
        codec: Codec[V],
        buckets: tuple[dict[str, V], ...],
        records: tuple[dict[str, bytes], ...],
        digests: bytes,
        length: int,
        *,
        parent_token: object | None = None,
        changes: Mapping[str, V | None] | None = None,
    ) -> None:
        self.codec = codec
        self._buckets, self._records, self._digests, self._len = buckets, records, digests, length
        self._root: bytes | None = None
        self.token = object()  # identifies this version for the store
        self.parent_token = parent_token
        self.changes = changes  # None: not derived by `updated` (write every row)

    @classmethod
    def empty(cls, codec: Codec[V]) -> HashedTable[V]:
        return cls(codec, ({},) * BUCKETS, ({},) * BUCKETS, _EMPTY * BUCKETS, 0)

    @classmethod
    def from_items(cls, codec: Codec[V], items: Iterable[tuple[str, V]]) -> HashedTable[V]:
        return cls.from_encoded(codec, ((k, v, codec.encode(v)) for k, v in items))

    @classmethod
    def from_encoded(cls, codec: Codec[V], items: Iterable[tuple[str, V, bytes]]) -> HashedTable[V]:
        """From (key, value, canonical bytes): the store's rows already hold the bytes."""
        buckets: list[dict[str, V]] = [{} for _ in range(BUCKETS)]
        records: list[dict[str, bytes]] = [{} for _ in range(BUCKETS)]
        for key, value, raw in items:
            b = bucket_of(key)
            buckets[b][key] = value
            records[b][key] = record(key, raw)
        digests = b"".join(_digest(r) for r in records)
        return cls(codec, tuple(buckets), tuple(records), digests, sum(map(len, buckets)))

    # Mapping -------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> V:
        return self._buckets[bucket_of(key)][key]

    def get(self, key: str, default: V | None = None) -> V | None:
        return self._buckets[bucket_of(key)].get(key, default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._buckets[bucket_of(key)]

    def __iter__(self) -> Iterator[str]:
        for bucket in self._buckets:
            yield from bucket

    def __len__(self) -> int:
        return self._len

    def encoded(self) -> Iterator[tuple[str, bytes]]:
        """(key, canonical value bytes) of every entry: the store's rows."""
        for bucket in self._records:
            for key, rec in bucket.items():
                yield key, rec[8 + len(key.encode()) :]

    # Hash and updates ----------------------------------------------------------------------
    def root(self) -> bytes:
        if self._root is None:
            self._root = blake3(self.codec.domain + self._digests).digest()
        return self._root

    def updated(self, changes: Mapping[str, V | None]) -> HashedTable[V]:
        """A new table with `changes` applied (None deletes); only touched buckets are copied
        and rehashed."""
        by_bucket: dict[int, list[str]] = {}
        for key in changes:
            by_bucket.setdefault(bucket_of(key), []).append(key)
        buckets, records = list(self._buckets), list(self._records)
        digests = bytearray(self._digests)
        length = self._len
        encode = self.codec.encode
        for b, keys in by_bucket.items():
            values, recs = dict(buckets[b]), dict(records[b])
            for key in keys:
                value = changes[key]
                if value is None:
                    if values.pop(key, None) is not None:
                        del recs[key]
                        length -= 1
                    continue
                if key not in values:
                    length += 1
                values[key] = value
                recs[key] = record(key, encode(value))
            buckets[b], records[b] = values, recs
            digests[b * 32 : b * 32 + 32] = _digest(recs)
        return HashedTable(
            self.codec,
            tuple(buckets),
            tuple(records),
            bytes(digests),
            length,
            parent_token=self.token,
            changes=dict(changes),
        )

    def recomputed_root(self) -> bytes:
        """The root from the entries alone, ignoring every cached digest: what `root` must
        equal (the property tests and the store's check at start use it)."""
        fresh = HashedTable.from_items(self.codec, self.items())
        return fresh.root()
