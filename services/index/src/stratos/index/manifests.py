"""Signed file manifests in the JetStream KV bucket STRATOS_MANIFESTS (key = file ID, value =
the SignedManifest bytes exactly as the owner signed them).

Nothing is kept on local disk or in memory between calls, so any number of index replicas can
serve at once and a restarted index serves every file. Writes use the bucket's per-key revision
(compare-and-set) so two replicas racing on the same file cannot silently overwrite each other.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from google.protobuf.message import DecodeError
from nats.js import JetStreamContext

from stratos.common.errors import (
    AlreadyExists,
    DataLoss,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from stratos.common.logging import get_logger
from stratos.common.manifests import file_summary
from stratos.common.natsutil import MANIFEST_BUCKET, ensure_kv, kv_keys
from stratos.index.manifest_rules import (
    FILE_ID_RE,
    check_file_id,
    check_owner_key,
    verify_delete,
    verify_signed,
)
from stratos.v1 import types_pb2

if TYPE_CHECKING:
    from stratos.index.catalog import Catalog

log = get_logger(__name__)

DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
_WRONG_LAST_SEQUENCE = (10071, 10164)  # JetStream error codes for a failed compare-and-set
_CAS_ATTEMPTS = 5


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@asynccontextmanager
async def _nats_call() -> AsyncIterator[None]:
    """Turn transport failures into a retryable sentence; KV outcomes are handled by callers."""
    try:
        yield
    except (nats.js.errors.KeyValueError, nats.js.errors.NotFoundError):
        raise
    except nats.js.errors.APIError as err:
        if err.err_code in _WRONG_LAST_SEQUENCE:
            # kv.delete(last=...) reports a lost compare-and-set as a bare APIError.
            raise nats.js.errors.KeyWrongLastSequenceError(description=err.description) from None
        raise Unavailable(
            f"the index's NATS store refused the call ({err.description or err!r})"
        ) from None
    except nats.errors.MaxPayloadError:
        raise InvalidArgument("the manifest is larger than the NATS server accepts") from None
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        raise Unavailable(f"the index cannot reach its NATS store right now ({exc!r})") from None


def _parse(file_id: str, value: bytes) -> tuple[types_pb2.SignedManifest, types_pb2.Manifest]:
    """The stored signed manifest of `file_id`; DataLoss when the bucket holds something else
    (only the index writes it, so that is damage or a write around the index, never a user's
    input): one file fails with a sentence, never the listing of everyone's files."""
    try:
        signed = types_pb2.SignedManifest.FromString(value)
        return signed, types_pb2.Manifest.FromString(signed.manifest)
    except DecodeError:
        raise DataLoss(
            f"the stored manifest of file {file_id} does not parse: the manifests bucket was "
            "damaged or written around the index"
        ) from None


class ManifestStore:
    def __init__(self, kv, clock: Callable[[], int] = now_ms) -> None:
        self._kv = kv
        self._clock = clock
        # The index's catalog, once it runs: listings page through it (brought up to date
        # first) instead of listing the bucket's keys and reading each manifest.
        self.catalog: Catalog | None = None

    @classmethod
    async def open(
        cls, js: JetStreamContext, clock: Callable[[], int] = now_ms, *, replicas: int
    ) -> ManifestStore:
        try:
            kv = await ensure_kv(js, MANIFEST_BUCKET, replicas=replicas)
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(
                f"cannot open the JetStream KV bucket {MANIFEST_BUCKET} "
                f"(is JetStream enabled on the NATS server?): {exc!r}"
            ) from None
        return cls(kv, clock)

    async def _entry(self, file_id: str):
        """The KV entry of a file, or None when it does not exist (or was deleted)."""
        try:
            async with _nats_call():
                return await self._kv.get(file_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None

    async def commit(
        self, signed: types_pb2.SignedManifest, verified: types_pb2.Manifest | None = None
    ) -> types_pb2.FileSummary:
        """Store a verified manifest. The same bytes again is a no-op; the same owner may
        replace their manifest; another owner's file ID is refused. `verified` is what
        `verify_signed(signed)` returned, when the caller has just checked it (the gRPC edge
        does, before its own checks): an ed25519 verify is a commit's largest CPU cost here."""
        manifest = verified if verified is not None else verify_signed(signed)
        value = signed.SerializeToString()
        file_id = manifest.file_id
        summary = file_summary(manifest, signed.owner_public_key)
        for _ in range(_CAS_ATTEMPTS):
            # A new file (the usual case) is one write: create, which fails if the key exists.
            try:
                async with _nats_call():
                    await self._kv.create(file_id, value)
                return summary
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError):
                pass  # the key exists: read it and decide
            entry = await self._entry(file_id)
            if entry is None:
                continue  # deleted between our create and our read; create again
            stored, _ = _parse(file_id, entry.value)
            if stored.owner_public_key != signed.owner_public_key:
                raise AlreadyExists(
                    f"a file with ID {file_id} already exists and belongs to another owner"
                )
            if entry.value == value:
                return summary
            try:
                async with _nats_call():
                    await self._kv.update(file_id, value, last=entry.revision)
                return summary
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another replica wrote this key between our read and write; re-read
        raise Unavailable(f"file {file_id} is being changed concurrently; try again")

    async def get(self, file_id: str) -> types_pb2.SignedManifest:
        check_file_id(file_id)
        entry = await self._entry(file_id)
        if entry is None:
            raise NotFound(f"no file with ID {file_id}")
        return _parse(file_id, entry.value)[0]

    async def list(
        self, limit: int = 0, page_token: str = "", owner_public_key: bytes = b""
    ) -> tuple[list[types_pb2.FileSummary], str]:
        """Summaries sorted by file ID, starting after `page_token` — only `owner_public_key`'s
        files when it is given; the next token is the last ID returned when more may follow,
        else empty. Other owners' files are skipped, not counted, so a page is full whenever
        the owner has that many more files."""
        limit = DEFAULT_PAGE if limit == 0 else min(limit, MAX_PAGE)
        if page_token:
            check_file_id(page_token)
        check_owner_key(owner_public_key)
        if self.catalog is not None:
            state = await self.catalog.sync()
            ids = state.page(page_token, limit + 1, owner_public_key)
            files = [file_summary(state.manifests[f], state.owners[f]) for f in ids[:limit]]
            return files, files[-1].file_id if len(ids) > limit else ""
        async with _nats_call():
            keys = await kv_keys(self._kv)
        after = sorted(k for k in keys if k > page_token and FILE_ID_RE.match(k))
        files: list[types_pb2.FileSummary] = []
        for key in after:
            if len(files) == limit:
                return files, files[-1].file_id
            entry = await self._entry(key)
            if entry is None:
                continue  # deleted between keys() and get()
            try:
                signed, manifest = _parse(key, entry.value)
            except DataLoss as err:
                log.warning("manifest_unreadable", file_id=key, error=str(err))
                continue
            if owner_public_key and signed.owner_public_key != owner_public_key:
                continue
            files.append(file_summary(manifest, signed.owner_public_key))
        return files, ""

    async def delete(
        self, file_id: str, unix_ms: int, owner_public_key: bytes, signature: bytes
    ) -> types_pb2.FileSummary:
        """Remove an owner-signed file's manifest; returns what was removed."""
        verify_delete(file_id, unix_ms, owner_public_key, signature, self._clock())
        for _ in range(_CAS_ATTEMPTS):
            entry = await self._entry(file_id)
            if entry is None:
                raise NotFound(f"no file with ID {file_id}")
            signed, manifest = _parse(file_id, entry.value)
            if signed.owner_public_key != owner_public_key:
                raise PermissionDenied(f"only the owner can delete file {file_id}")
            try:
                async with _nats_call():
                    await self._kv.delete(file_id, last=entry.revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            return file_summary(manifest, signed.owner_public_key)
        raise Unavailable(f"file {file_id} is being changed concurrently; try again")
