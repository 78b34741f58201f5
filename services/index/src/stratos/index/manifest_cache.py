"""Every stored manifest, parsed once: a round reads the whole manifest bucket, and only the
entries whose bytes changed since the last round are decoded again."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from stratos.common.logging import get_logger
from stratos.index.locations import read_all
from stratos.v1 import types_pb2

log = get_logger(__name__)


class ManifestCache:
    def __init__(self) -> None:
        self._parsed: dict[str, tuple[bytes, types_pb2.Manifest]] = {}
        self.keys: set[str] = set()  # every key of the last read, unreadable ones included

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
        self._parsed = parsed
        return {fid: m for fid, (_, m) in parsed.items()}
