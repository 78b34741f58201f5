"""Every stored file as the index's loops need it, kept up to date one change at a time. Pure:
the manifests and locations buckets go in entry by entry (`catalog.py` feeds them from
JetStream); the indexes the loops ask questions of come out, each answered in time that follows
the answer's size, not the number of files stored:

- which files name a chunk, and which files are joined to a set of files by shared chunks
  (a plan over a few files must see every need of every chunk it touches: `closure`);
- which chunks each node holds (every file's current holders merged, as `pieces.union_holders`
  merges them), with their bytes, and the files with a copy on a node (`files_on`);
- listings by file ID, of everyone or of one owner, from any point;
- the files whose expiry has come (`due`).

Every change calls the listeners with the file's ID, so a loop learns what changed instead of
comparing everything with its last look.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections.abc import Callable, Iterable, Iterator, KeysView

from google.protobuf.message import DecodeError

from stratos.index.drain_rules import Load
from stratos.index.pieces import holders, pieces
from stratos.index.repair_plan import FileView
from stratos.v1 import types_pb2

Listener = Callable[[str], None]


class _Sample:
    """A set with a uniform random member in O(1) (a list plus each member's position)."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: str) -> bool:
        return item in self._pos

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def add(self, item: str) -> bool:
        if item in self._pos:
            return False
        self._pos[item] = len(self._items)
        self._items.append(item)
        return True

    def discard(self, item: str) -> bool:
        i = self._pos.pop(item, None)
        if i is None:
            return False
        last = self._items.pop()
        if i < len(self._items):
            self._items[i] = last
            self._pos[last] = i
        return True

    def choice(self, rng: random.Random) -> str:
        return self._items[rng.randrange(len(self._items))]


class _Sorted:
    """Keys kept as a set, sorted again only when a listing follows a change."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._sorted: list[str] | None = []

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> None:
        if key not in self._keys:
            self._keys.add(key)
            self._sorted = None

    def discard(self, key: str) -> None:
        if key in self._keys:
            self._keys.discard(key)
            self._sorted = None

    def after(self, key: str, limit: int) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._keys)
        i = bisect.bisect_right(self._sorted, key)
        return self._sorted[i : i + limit]


class CatalogState:
    def __init__(self) -> None:
        self.manifests: dict[str, types_pb2.Manifest] = {}
        self.owners: dict[str, bytes] = {}
        self.unreadable: set[str] = set()  # keys whose value does not parse (logged once)
        self.locations: dict[str, types_pb2.FileLocations] = {}
        self._ids = _Sorted()
        self._by_owner: dict[bytes, _Sorted] = {}
        self._by_chunk: dict[str, set[str]] = {}
        self._file_holders: dict[str, dict[str, tuple[str, ...]]] = {}
        self._chunk_holders: dict[str, frozenset[str]] = {}
        self._sizes: dict[str, int] = {}
        self._node_chunks: dict[str, _Sample] = {}
        self._node_bytes: dict[str, int] = {}
        self._expiry: list[tuple[int, str]] = []
        self._stray: set[str] = set()
        self._listeners: list[Listener] = []

    # -- feeding ---------------------------------------------------------------------------

    def listen(self, listener: Listener) -> None:
        """Call `listener(file_id)` after every change to that file's manifest or locations."""
        self._listeners.append(listener)

    def put_manifest(self, file_id: str, value: bytes | None) -> bool:
        """A manifests-bucket entry (None: deleted); False when the value does not parse."""
        readable = True
        manifest = owner = None
        if value:
            try:
                signed = types_pb2.SignedManifest.FromString(value)
                manifest = types_pb2.Manifest.FromString(signed.manifest)
                owner = bytes(signed.owner_public_key)
            except DecodeError:
                readable = False
        self._forget_owner(file_id)
        self.unreadable.discard(file_id)
        if manifest is None:
            self.manifests.pop(file_id, None)
            self._ids.discard(file_id)
            if not readable:
                self.unreadable.add(file_id)
        else:
            self.manifests[file_id] = manifest
            self.owners[file_id] = owner
            self._ids.add(file_id)
            self._by_owner.setdefault(owner, _Sorted()).add(file_id)
            if manifest.expires_unix_ms:
                heapq.heappush(self._expiry, (manifest.expires_unix_ms, file_id))
        self._refresh(file_id)
        return readable

    def put_locations(self, file_id: str, value: bytes | None) -> None:
        """A locations-bucket entry (None: deleted)."""
        if value:
            try:
                self.locations[file_id] = types_pb2.FileLocations.FromString(value)
            except DecodeError:
                self.locations.pop(file_id, None)
        else:
            self.locations.pop(file_id, None)
        self._refresh(file_id)

    def clear(self) -> None:
        """Forget everything (the buckets are read again from the start)."""
        listeners = self._listeners
        self.__init__()
        self._listeners = listeners

    def _forget_owner(self, file_id: str) -> None:
        owner = self.owners.pop(file_id, None)
        if owner is not None:
            mine = self._by_owner.get(owner)
            if mine is not None:
                mine.discard(file_id)
                if not len(mine):
                    del self._by_owner[owner]

    def _refresh(self, file_id: str) -> None:
        old = self._file_holders.pop(file_id, {})
        manifest = self.manifests.get(file_id)
        if file_id in self.locations and manifest is None and file_id not in self.unreadable:
            self._stray.add(file_id)
        else:
            self._stray.discard(file_id)
        new: dict[str, tuple[str, ...]] = {}
        if manifest is not None:
            new = {c: tuple(n) for c, n in holders(manifest, self.locations.get(file_id)).items()}
            self._file_holders[file_id] = new
            for p in pieces(manifest):
                self._sizes.setdefault(p.chunk_id, p.size)
        for cid in old.keys() - new.keys():
            named = self._by_chunk.get(cid)
            if named is not None:
                named.discard(file_id)
                if not named:
                    del self._by_chunk[cid]
        for cid in new:
            self._by_chunk.setdefault(cid, set()).add(file_id)
        for cid in old.keys() | new.keys():
            self._merge(cid)
        for listener in self._listeners:
            listener(file_id)

    def _merge(self, cid: str) -> None:
        """Recompute one chunk's holders over every file naming it, and the node indexes."""
        before = self._chunk_holders.get(cid, frozenset())
        files = self._by_chunk.get(cid, ())
        after = frozenset(n for f in files for n in self._file_holders[f].get(cid, ()))
        size = self._sizes.get(cid, 0)
        for n in before - after:
            chunks = self._node_chunks[n]
            if chunks.discard(cid):
                self._node_bytes[n] -= size
            if not len(chunks):
                del self._node_chunks[n], self._node_bytes[n]
        for n in after - before:
            if self._node_chunks.setdefault(n, _Sample()).add(cid):
                self._node_bytes[n] = self._node_bytes.get(n, 0) + size
        if after:
            self._chunk_holders[cid] = after
        else:
            self._chunk_holders.pop(cid, None)
        if not files:
            self._sizes.pop(cid, None)

    # -- questions -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.manifests)

    def view(self, file_id: str) -> FileView | None:
        m = self.manifests.get(file_id)
        return None if m is None else FileView(m, self.locations.get(file_id))

    def views(self, file_ids: Iterable[str]) -> list[FileView]:
        """The files among `file_ids` that exist, sorted by ID."""
        return [v for f in sorted(file_ids) if (v := self.view(f)) is not None]

    def all_ids(self) -> set[str]:
        return set(self.manifests)

    def naming(self, chunk_id: str) -> list[types_pb2.Manifest]:
        """The manifests that name `chunk_id`, by file ID."""
        return [self.manifests[f] for f in sorted(self._by_chunk.get(chunk_id, ()))]

    def files_naming(self, chunk_id: str) -> set[str]:
        return set(self._by_chunk.get(chunk_id, ()))

    def named_chunks(self) -> KeysView[str]:
        """Every chunk some file names — a live view, so a check made later sees later files."""
        return self._by_chunk.keys()

    def is_named(self, chunk_id: str) -> bool:
        return chunk_id in self._by_chunk

    def holders_of(self, chunk_id: str) -> frozenset[str]:
        return self._chunk_holders.get(chunk_id, frozenset())

    def size_of(self, chunk_id: str) -> int:
        return self._sizes.get(chunk_id, 0)

    def closure(self, file_ids: Iterable[str]) -> set[str]:
        """`file_ids` and every file joined to them by shared chunks, directly or through
        others: all the needs of every chunk a plan over these files touches."""
        out: set[str] = set()
        todo = list(file_ids)
        while todo:
            f = todo.pop()
            if f in out:
                continue
            out.add(f)
            for cid in self._file_holders.get(f, ()):
                todo.extend(g for g in self._by_chunk.get(cid, ()) if g not in out)
        return out

    def files_on(self, node_id: str) -> set[str]:
        """The files with a copy of some chunk on `node_id`."""
        chunks = self._node_chunks.get(node_id, ())
        return {f for cid in chunks for f in self._by_chunk.get(cid, ())}

    def nodes(self) -> list[str]:
        """The nodes that hold at least one chunk."""
        return sorted(self._node_chunks)

    def load(self, node_id: str) -> Load:
        return Load(len(self._node_chunks.get(node_id, ())), self._node_bytes.get(node_id, 0))

    def loads(self) -> dict[str, Load]:
        return {n: self.load(n) for n in sorted(self._node_chunks)}

    def random_chunks(self, node_id: str, count: int, rng: random.Random) -> set[str]:
        """Up to `count` distinct chunks on `node_id`, drawn uniformly."""
        chunks = self._node_chunks.get(node_id)
        if chunks is None:
            return set()
        if len(chunks) <= count:
            return set(chunks)
        picked: set[str] = set()
        while len(picked) < count:
            picked.add(chunks.choice(rng))
        return picked

    def stray_locations(self) -> list[str]:
        """Files with locations and no manifest (deleted files); unreadable ones are kept."""
        return sorted(self._stray)

    def page(self, after: str, limit: int, owner: bytes = b"") -> list[str]:
        """Up to `limit` file IDs after `after`, sorted — only `owner`'s when given."""
        ids = self._by_owner.get(owner) if owner else self._ids
        return ids.after(after, limit) if ids is not None else []

    def due(self, now_ms: int) -> list[str]:
        """Files whose expiry is at or before `now_ms`, soonest first. They stay due until
        their manifest is deleted or replaced."""
        found: dict[tuple[int, str], None] = {}
        while self._expiry and self._expiry[0][0] <= now_ms:
            when, f = heapq.heappop(self._expiry)
            m = self.manifests.get(f)
            if m is not None and m.expires_unix_ms == when:
                found[(when, f)] = None  # a stale or repeated entry is dropped here
        for entry in found:
            heapq.heappush(self._expiry, entry)
        return [f for _, f in found]
