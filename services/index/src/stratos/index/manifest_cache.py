"""Every stored manifest, parsed once: a round reads the whole manifest bucket, and only the
entries whose bytes changed since the last round are decoded again. It also keeps which files
name each chunk, updated with the entries that changed, so a result about a chunk reaches every
file naming it without scanning them all."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from stratos.common.logging import get_logger
from stratos.index.locations import read_all
from stratos.index.pieces import pieces
from stratos.v1 import types_pb2

log = get_logger(__name__)


class ManifestCache:
    def __init__(self) -> None:
        self._parsed: dict[str, tuple[bytes, types_pb2.Manifest]] = {}
        self.keys: set[str] = set()  # every key of the last read, unreadable ones included
        self._by_chunk: dict[str, set[str]] = {}  # chunk ID → files naming it

    async def read(self, kv) -> dict[str, types_pb2.Manifest]:
        """file_id → manifest of every readable entry of the bucket `kv` now."""
        raw = await read_all(kv)
        self.keys = set(raw)
        parsed: dict[str, tuple[bytes, types_pb2.Manifest]] = {}
        for file_id, value in raw.items():
            known = self._parsed.get(file_id)
            if known is not None and known[0] == value:
                parsed[file_id] = known
                continue
            try:
                signed = types_pb2.SignedManifest.FromString(value)
                parsed[file_id] = (value, types_pb2.Manifest.FromString(signed.manifest))
            except DecodeError:
                log.warning("manifest_unreadable", file_id=file_id)
        for file_id, (_, m) in self._parsed.items():
            if parsed.get(file_id, (None, None))[1] is not m:
                self._index(file_id, m, add=False)
        for file_id, (_, m) in parsed.items():
            if self._parsed.get(file_id, (None, None))[1] is not m:
                self._index(file_id, m, add=True)
        self._parsed = parsed
        return {fid: m for fid, (_, m) in parsed.items()}

    def _index(self, file_id: str, manifest: types_pb2.Manifest, *, add: bool) -> None:
        for p in pieces(manifest):
            files = self._by_chunk.setdefault(p.chunk_id, set())
            if add:
                files.add(file_id)
            else:
                files.discard(file_id)
                if not files:
                    del self._by_chunk[p.chunk_id]

    def naming(self, chunk_id: str) -> list[types_pb2.Manifest]:
        """The manifests of the last read that name `chunk_id`."""
        return [self._parsed[f][1] for f in sorted(self._by_chunk.get(chunk_id, ()))]
