"""MeshClient: the SDK's data path — encrypt, place, upload, commit, and read back.

A put reads the file one segment at a time, encrypts it, asks the index where the chunk goes,
and stores R copies in parallel, falling back to other nodes when one fails. A file of one
segment (at most `SMALL_FILE_BYTES`) skips PlanWrite: its one PlaceChunks is checked the same
way, so a small put is PlaceChunks, R parallel one-message PutChunks and CommitManifest, and a
small get is GetManifest (which names the nodes' states) and one GetChunk. At most
`parallelism` segments are in memory at once whatever the file size. Only when every segment has
R acknowledged copies is the signed manifest committed, so the index never lists a half-written
file. A get verifies the manifest, fetches segments in a bounded window, skips replicas that are
missing, corrupt or unreachable, and writes through `sinks`: a file is put in place only once it
is complete (and only over a regular file), a stream gets each segment once it has verified.
An erasure-coded file (`put(..., erasure=(k, m))`) keeps each encrypted segment as k + m shares
on distinct nodes instead; `ec_transfer` moves them and a get decodes any k. Both reads ask the
nodes the index says hold a chunk now, before the ones the signed manifest named.
A file's name is sealed into its manifest with the file key (`file_names`): a listing opens the
names of the files whose keys the caller passes, and a get the one its capability opens.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import stat as statmod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from stratos.common import erasure as ec
from stratos.common import tickets
from stratos.common.errors import (
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    StratosError,
    Unavailable,
)
from stratos.common.hashing import chunk_id as hash_chunk
from stratos.common.identity import Identity, address_of
from stratos.common.limits import MIN_SEGMENT_BYTES
from stratos.common.sealed_metadata import check_name
from stratos.common.segment_limits import fitting_segment_size
from stratos.sdk import ec_layout, file_names, holdings, offload, sinks, transfer
from stratos.sdk.capability import format_capability, is_file_id, parse_capability
from stratos.sdk.crypto import decrypt_segment, encrypt_segment, new_file_key
from stratos.sdk.ec_transfer import EcUpload, plan_ec, read_shares
from stratos.sdk.file_names import ListedFile
from stratos.sdk.manifest import (
    SegmentSpan,
    build_manifest,
    delete_request,
    segment_layout,
    segment_record,
    sign_manifest,
    summarize,
    verify_manifest,
)
from stratos.sdk.put_options import check_put
from stratos.sdk.receipts_out import ReceiptSender
from stratos.sdk.ticketbook import TicketBook
from stratos.v1 import compute_pb2, index_pb2, ticket_pb2, types_pb2

if TYPE_CHECKING:
    import grpc

DEFAULT_SEGMENT_SIZE = 4 * 1024 * 1024
FALLBACK_CANDIDATES = 2  # PlaceChunks `extra`
MAX_REPLACEMENTS = 2  # times one segment may ask the index for fresh targets
LIST_PAGE = 10_000  # the index answers up to MAX_PAGE per call: fewer round trips for big listings
MAX_LIST_PAGES = 100_000
# A file this small is one segment whatever the mesh suggests: no PlanWrite needed to cut it.
SMALL_FILE_BYTES = MIN_SEGMENT_BYTES

Progress = Callable[[int], None] | None
T = TypeVar("T")


# A get flushes its output every this many bytes (see `get`).
FLUSH_EVERY_BYTES = 32 << 20


@dataclass(frozen=True)
class PutResult:
    file_id: str
    capability: str
    name: str
    size: int
    segments: int
    replicas: int
    erasure: tuple[int, int] | None = None  # (k, m) when erasure coded
    expires_unix_ms: int = 0  # 0 = never


@dataclass(frozen=True)
class GetResult:
    file_id: str
    name: str
    size: int
    path: Path | None  # None: written to standard output
    chunk_ids: tuple[str, ...] = ()  # every chunk (or share) of the file, in segment order


@dataclass(frozen=True)
class FileStat:
    summary: types_pb2.FileSummary
    manifest: types_pb2.Manifest  # as signed: the nodes it names are where the upload put chunks
    segments: list[holdings.SegmentView]  # where every segment's chunks are now, and each state
    listed: ListedFile  # the summary with the name, when the caller's key opened it


@dataclass(frozen=True)
class _Found:
    """A verified manifest and where its chunks are now, as GetManifest answered."""

    signed: types_pb2.SignedManifest
    manifest: types_pb2.Manifest
    addresses: dict[str, str]  # node_id → address, for the nodes the index named
    live: set[str]  # those of them the index sees LIVE
    locations: dict[str, list[str]]  # chunk_id → current holders, where they changed
    moved: types_pb2.FileLocations  # the same, as the index answered it
    tickets: TicketBook  # GET tickets for the chunks, when asked for


class MeshClient:
    """A client of one mesh, reached through any of `index_addresses` over `credentials` (the
    mesh's TLS: `meshtls.client_tls(home).channel_credentials()`). `identity` owns the files it
    puts; `payer` (default: the same key) is the wallet whose ozone pays for the traffic."""

    def __init__(
        self,
        index_addresses: Sequence[str],
        identity: Identity,
        *,
        credentials: grpc.ChannelCredentials,
        parallelism: int = 4,
        payer: Identity | None = None,
    ) -> None:
        if parallelism < 1:
            raise InvalidArgument(f"parallelism must be at least 1, not {parallelism}")
        self._identity = identity  # owns what it puts: signs manifests and deletes
        # pays for the traffic: asks for the tickets, holds them, signs the receipts
        self._payer = payer or identity
        self._parallelism = parallelism
        self._channels = transfer.Channels(credentials)
        self._receipts = self._channels.receipts = ReceiptSender(self._payer, self._channels)
        self._index = transfer.IndexClient(index_addresses, self._channels)

    async def __aenter__(self) -> MeshClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def traffic_bytes(self) -> int:
        """Bytes this client's transfers moved and signed receipts for so far: the ozone the
        chain charges the payer for them once their epoch settles."""
        return self._receipts.bytes_receipted

    @property
    def moved_by_node(self) -> dict[str, int]:
        """Verified bytes this client's transfers moved at each storage node so far (a compute
        worker's locality: how much it read from its own node)."""
        return dict(self._receipts.moved_by_node)

    @property
    def payer_address(self) -> str:
        """The ledger address whose ozone pays for this client's traffic."""
        return address_of(self._payer.public_bytes)

    async def close(self) -> None:
        """Hand the storage nodes their last receipts, then close every channel."""
        await self._receipts.close()
        await self._channels.close()

    # -- put ---------------------------------------------------------------------------------

    async def put(
        self,
        path: Path,
        *,
        replicas: int | None = None,
        segment_size: int | None = None,
        name: str | None = None,
        on_progress: Progress = None,
        erasure: tuple[int, int] | None = None,
        ttl_s: float | None = None,
    ) -> PutResult:
        """Store the file at `path` with `replicas` copies of every segment (default 3), or
        with `erasure=(k, m)` (and no `replicas`): every segment cut into k data + m parity
        shares on k + m nodes. The options' rules are `put_options.check_put`'s.
        With `ttl_s` the file expires that many seconds after it is committed: it vanishes
        from listings and the mesh collects its chunks."""
        path = Path(path)
        ttl_ms = _ttl_ms(ttl_s)
        name = check_name(name or path.name)  # refused before any byte moves
        fd, size = _open_for_read(path)
        try:
            # refused before contacting anything
            opts = check_put(size, replicas=replicas, erasure=erasure, segment_size=segment_size)
            copies = opts.replicas
            small = erasure is None and size <= (opts.segment_size or SMALL_FILE_BYTES)
            if small:  # one segment: its placement carries the plan (`_Upload`)
                seg_size = opts.segment_size or SMALL_FILE_BYTES
            else:
                plan = await self._plan(copies, size, erasure)
                # the mesh's suggestion grows until the file's segments fit one manifest
                seg_size = opts.segment_size or fitting_segment_size(
                    size, plan.segment_size or DEFAULT_SEGMENT_SIZE, copies, erasure
                )
            layout = segment_layout(size, seg_size)
            file_id = secrets.token_hex(16)
            key = new_file_key()
            upload: _Upload | EcUpload
            if erasure is None:
                upload = _Upload(
                    self, fd, path, file_id, key, copies, on_progress, plan=size if small else None
                )
            else:
                upload = EcUpload(
                    channels=self._channels,
                    place=self._place,
                    read=lambda span: _read_and_encrypt(fd, path, span, key, file_id),
                    k=erasure[0],
                    m=erasure[1],
                    on_progress=on_progress,
                )
            await _bounded(layout, upload.segment, self._parallelism)
            manifest = build_manifest(
                file_id=file_id,
                name=name,
                key=key,
                size=size,
                segment_size=seg_size,
                replicas=copies,
                segments=upload.records,
            )
            if erasure is not None:
                manifest.erasure.data_shares, manifest.erasure.parity_shares = erasure
            if ttl_ms:
                manifest.expires_unix_ms = manifest.created_unix_ms + ttl_ms
            await self._commit(sign_manifest(manifest, self._identity))
        finally:
            os.close(fd)
        return PutResult(
            file_id=file_id,
            capability=format_capability(file_id, key),
            name=name,
            size=size,
            segments=len(layout),
            replicas=copies,
            erasure=erasure,
            expires_unix_ms=manifest.expires_unix_ms,
        )

    async def _plan(
        self, replicas: int, size: int, erasure: tuple[int, int] | None
    ) -> index_pb2.PlanWriteResponse:
        """Refuse, before any byte is sent, a write too few live nodes could hold."""
        if erasure is not None:
            return await plan_ec(self._index, size, *erasure)
        plan = await self._index.call(
            "PlanWrite", index_pb2.PlanWriteRequest(replicas=replicas, size=size)
        )
        if plan.live_nodes < replicas:
            raise FailedPrecondition(
                f"{replicas} copies need {replicas} live storage nodes "
                f"but only {plan.live_nodes} are live"
            )
        return plan

    async def _place(
        self,
        chunks: Sequence[str],
        size: int,
        replicas: int,
        exclude: Iterable[str],
        *,
        plan: int | None = None,
    ) -> tuple[list[index_pb2.NodeAddress], TicketBook]:
        """Targets (then fallbacks) for `chunks[0]`, and the PUT tickets for every chunk in
        `chunks` (each of `size` bytes: the one chunk of a segment, or its shares). `plan`: the
        size of a one-chunk file, checked as PlanWrite would before it is placed."""
        wanted = [(chunk, size) for chunk in chunks]
        request = index_pb2.PlaceChunksRequest(
            chunks=[index_pb2.ChunkToPlace(chunk_id=c, size=n) for c, n in wanted],
            replicas=replicas,
            exclude_node_ids=sorted(exclude),
            extra=FALLBACK_CANDIDATES,
            ask=tickets.ask(self._payer, "PlaceChunks", tickets.place_subject(wanted)),
        )
        if plan is not None:
            request.file_size = plan
        resp = await self._index.call("PlaceChunks", request)
        for placement in resp.placements:
            if placement.chunk_id == chunks[0]:
                return list(placement.targets), TicketBook(self._payer, resp.tickets)
        raise Unavailable(f"the index gave no placement for chunk {chunks[0]}")

    async def _commit(self, signed: types_pb2.SignedManifest) -> None:
        try:
            await self._index.call("CommitManifest", index_pb2.CommitManifestRequest(signed=signed))
        except transfer.RetriedAlreadyExists:
            # The replica we failed over from may have committed it before going away.
            file_id = types_pb2.Manifest.FromString(signed.manifest).file_id
            stored = await self._index.call(
                "GetManifest", index_pb2.GetManifestRequest(file_id=file_id)
            )
            if stored.signed.manifest != signed.manifest:
                raise
        return None

    # -- get ---------------------------------------------------------------------------------

    async def get(
        self,
        capability: str,
        out: Path | str | None = None,
        *,
        force: bool = False,
        on_progress: Progress = None,
        job: compute_pb2.SignedJob | None = None,
        prefer_node: str | None = None,
    ) -> GetResult:
        """Fetch and decrypt the file behind `capability` into `out`: a file (replaced only if
        it is a regular file), a folder (the file's sanitised name inside it), a FIFO or
        character device (written through), "-" (standard output) or None (its sanitised name
        in the current folder). A name the user did not choose replaces nothing unless
        `force`. See `sinks` for why.

        A compute executor reading a job's input passes the signed `job` (the job's payer pays
        for the bytes) and its own node as `prefer_node` (read from there first)."""
        file_id, key = parse_capability(capability)
        sinks.check_output(out)
        found = await self._manifest(file_id, read=True, job=job)
        manifest, locations = found.manifest, found.locations
        name = file_names.name_of(manifest, key)  # a wrong key stops here, before any write
        target = sinks.choose_target(out, name, file_id, force=force)
        code = ec_layout.code_of(manifest)
        live, addresses = found.live, found.addresses
        sink = await sinks.open_sink(target)
        try:
            sink.reserve(manifest.size)

            async def fetch(seg: types_pb2.Segment) -> None:
                if code is None:
                    data = await self._read_segment(
                        file_id, seg, addresses, live, locations, found.tickets, prefer_node
                    )
                    produce = functools.partial(decrypt_segment, key, file_id, seg.index, data)
                else:
                    shares = await read_shares(
                        self._channels,
                        file_id,
                        seg,
                        code[0],
                        addresses,
                        live,
                        locations,
                        found.tickets,
                        prefer_node,
                    )
                    produce = functools.partial(
                        _decode_and_decrypt, key, file_id, seg, shares=shares, code=code
                    )
                # decrypting verifies the GCM tag: nothing unverified is ever written
                await sink.write(
                    seg.index, seg.index * manifest.segment_size, produce, seg.plain_size
                )
                if on_progress:
                    on_progress(seg.plain_size)
                unsynced[0] += seg.plain_size
                if unsynced[0] >= FLUSH_EVERY_BYTES:
                    # flush while later segments are still arriving, so the final fsync
                    # (serial, at the end) has little left to write
                    unsynced[0] = 0
                    await sink.flush()

            unsynced = [0]
            await _bounded(manifest.segments, fetch, self._parallelism)
            sink.finish(manifest.size, file_id)
        except BaseException:
            sink.abort()
            raise
        path = None if target.stream and str(target.path) == sinks.STDOUT else target.path
        chunk_ids = tuple(
            c
            for seg in manifest.segments
            for c in ([seg.chunk_id] if code is None else [s.chunk_id for s in seg.shares])
        )
        return GetResult(
            file_id=file_id, name=name, size=manifest.size, path=path, chunk_ids=chunk_ids
        )

    async def _read_segment(
        self,
        file_id: str,
        seg: types_pb2.Segment,
        addresses: dict[str, str],
        live: set[str],
        locations: dict[str, list[str]],
        book: TicketBook,
        prefer: str | None = None,
    ) -> bytearray:
        nodes = ec_layout.holders(seg.chunk_id, seg.node_ids, locations, live, prefer)
        failures: list[str] = []
        for node in nodes:
            address = addresses.get(node)
            if not address:
                failures.append(f"{node}: no known address")
                continue
            try:
                return await transfer.get_chunk(
                    self._channels,
                    address,
                    seg.chunk_id,
                    seg.stored_size,
                    node_id=node,
                    bearer=await book.bearer(seg.chunk_id),
                )
            except StratosError as err:
                failures.append(f"{node}: {err.message}")
        raise DataLoss(
            f"segment {seg.index} of file {file_id} could not be read from any of its "
            f"{len(nodes)} nodes: " + "; ".join(failures)
        )

    async def _manifest(
        self, file_id: str, *, read: bool = False, job: compute_pb2.SignedJob | None = None
    ) -> _Found:
        """The file's manifest and where its chunks are; with `read`, also GET tickets for them
        (renewed from the index when a long read outlives them), paid by `job`'s payer when
        given."""
        resp = await self._get_manifest(file_id, read=read, job=job)

        async def renew() -> list[ticket_pb2.SignedTicket]:
            return list((await self._get_manifest(file_id, read=True, job=job)).tickets)

        return _Found(
            signed=resp.signed,
            manifest=verify_manifest(resp.signed, file_id),
            addresses={n.node_id: n.address for n in resp.nodes},
            live={n.node_id for n in resp.nodes if n.state == types_pb2.NODE_STATE_LIVE},
            locations=ec_layout.current_locations(resp),
            moved=resp.locations,
            tickets=TicketBook(self._payer, resp.tickets, renew=renew if read else None),
        )

    async def _get_manifest(
        self, file_id: str, *, read: bool, job: compute_pb2.SignedJob | None = None
    ) -> index_pb2.GetManifestResponse:
        request = index_pb2.GetManifestRequest(file_id=file_id)
        if read:
            request.ask.CopyFrom(tickets.ask(self._payer, "GetManifest", file_id))
            if job is not None:
                request.job.CopyFrom(job)
        try:
            return await self._index.call("GetManifest", request)
        except NotFound:
            raise NotFound(f"no file with ID {file_id}") from None

    # -- metadata ----------------------------------------------------------------------------

    async def list_files(
        self, *, everyone: bool = False, keys: Mapping[str, bytes] | None = None
    ) -> list[ListedFile]:
        """The files this client's identity owns, or with `everyone` every owner's, each with
        its name opened where `keys` (file_id → file key) holds the file's key. Which files are
        listed is a default view, not a secret: any caller can list everyone's IDs, sizes,
        dates and owner keys; names are sealed, so only key holders see them."""
        summaries = await self._summaries(everyone)
        entries = [file_names.listed(s, keys or {}) for s in summaries]
        legacy = [i for i, e in enumerate(entries) if e.legacy]

        async def legacy_name(i: int) -> None:
            # stored before names were sealed: its plaintext name is only in its manifest
            try:
                found = await self._manifest(entries[i].file_id)
            except StratosError as err:
                entries[i] = ListedFile(entries[i].summary, problem=err.message)
                return
            entries[i] = file_names.with_legacy_name(entries[i], found.manifest)

        await _bounded(legacy, legacy_name, self._parallelism)
        return entries

    async def _summaries(self, everyone: bool) -> list[types_pb2.FileSummary]:
        owner = b"" if everyone else self._identity.public_bytes
        files: list[types_pb2.FileSummary] = []
        token = ""
        for _ in range(MAX_LIST_PAGES):
            resp = await self._index.call(
                "ListFiles",
                index_pb2.ListFilesRequest(
                    limit=LIST_PAGE, page_token=token, owner_public_key=owner
                ),
            )
            files.extend(resp.files)
            if not resp.next_page_token or resp.next_page_token == token:
                break
            token = resp.next_page_token
        return files

    async def stat(self, file_id: str, key: bytes | None = None) -> FileStat:
        """The file's summary and where its chunks are now (not where the upload put them),
        each holder with its state as the index sees it; its name when `key` opens it."""
        _check_file_id(file_id)
        found = await self._manifest(file_id)
        manifest = found.manifest
        statuses = {n.info.node_id: n for n in await self.list_nodes()}
        summary = summarize(found.signed, manifest)
        if manifest.HasField("erasure"):
            summary.erasure.CopyFrom(manifest.erasure)
        segments = holdings.segment_views(manifest, found.moved, statuses)
        entry = file_names.listed(summary, {file_id: key} if key is not None else {})
        if entry.legacy:
            entry = file_names.with_legacy_name(entry, manifest)
        return FileStat(summary=summary, manifest=manifest, segments=segments, listed=entry)

    async def delete(self, file_id: str) -> None:
        """Remove the file from the index (owner only); its chunks are collected later."""
        _check_file_id(file_id)
        try:
            resp = await self._index.call("DeleteFile", delete_request(file_id, self._identity))
        except NotFound:
            raise NotFound(f"no file with ID {file_id}") from None
        if not resp.deleted:
            raise NotFound(f"no file with ID {file_id}")

    async def list_nodes(self) -> list[types_pb2.NodeStatus]:
        resp = await self._index.call("ListNodes", index_pb2.ListNodesRequest())
        return list(resp.nodes)


class _Upload:
    """One put's segment workers and what they share: the file, the key and failing nodes."""

    def __init__(
        self,
        client: MeshClient,
        fd: int,
        path: Path,
        file_id: str,
        key: bytes,
        replicas: int,
        on_progress: Progress,
        *,
        plan: int | None = None,
    ) -> None:
        self.client = client
        self.plan = plan  # a one-segment file's size: its first placement is its plan
        self.fd = fd
        self.path = path
        self.file_id = file_id
        self.key = key
        self.replicas = replicas
        self.on_progress = on_progress
        self.failed: dict[str, str] = {}  # node_id → why; excluded from later placements
        self.records: list[types_pb2.Segment] = []

    async def segment(self, span: SegmentSpan) -> None:
        # AES-GCM, blake3 and the pieces' one copy release the GIL: off the loop, which keeps
        # the other segments' streams fed meanwhile (a small segment, on it: `offload`)
        chunk, data = await offload.run(
            span.length, _read_encrypt_prepare, self.fd, self.path, span, self.key, self.file_id
        )
        nodes = await self._replicate(span.index, chunk, data)
        self.records.append(segment_record(span.index, chunk, span.length, nodes))
        if self.on_progress:
            self.on_progress(span.length)

    async def _replicate(self, index: int, chunk: str, data: transfer.PreparedChunk) -> list[str]:
        """Store `replicas` copies of one chunk; the IDs of the nodes that acknowledged.

        Targets first, then the index's fallbacks, then fresh targets from the index with every
        node that failed during this put excluded."""
        want = self.replicas
        acked: list[str] = []
        errors: list[tuple[str, StratosError]] = []  # (node_id or "", error) in order met
        for attempt in range(MAX_REPLACEMENTS + 1):
            try:
                targets, book = await self.client._place(
                    [chunk], len(data), want, self.failed, plan=self.plan if attempt == 0 else None
                )
            except StratosError as err:
                if attempt == 0 and not self.failed:
                    raise  # the index refused outright: its sentence says why
                errors.append(("", err))
                break
            candidates = deque(
                t for t in targets if t.node_id not in self.failed and t.node_id not in acked
            )
            if not candidates:
                break
            while candidates and len(acked) < want:
                batch: dict[str, index_pb2.NodeAddress] = {}
                while candidates and len(batch) < want - len(acked):
                    t = candidates.popleft()
                    if t.node_id not in self.failed and t.node_id not in acked:
                        batch.setdefault(t.node_id, t)
                results = await asyncio.gather(
                    *(
                        transfer.put_chunk(
                            self.client._channels,
                            t.address,
                            chunk,
                            data,
                            node_id=t.node_id,
                            bearer=book.now(chunk),
                        )
                        for t in batch.values()
                    ),
                    return_exceptions=True,
                )
                for node, result in zip(batch, results, strict=True):
                    if isinstance(result, StratosError):
                        self.failed[node] = result.message
                        errors.append((node, result))
                    elif isinstance(result, BaseException):
                        raise result
                    else:
                        acked.append(node)
            if len(acked) >= want:
                return acked
        raise _short_of_copies(index, len(acked), want, errors)


def _short_of_copies(
    index: int, stored: int, want: int, errors: list[tuple[str, StratosError]]
) -> StratosError:
    """The sentence for a segment that could not reach its redundancy target."""
    sentence = f"could only store {stored} of {want} copies of segment {index}"
    node_errors = [(n, e) for n, e in errors if n]
    if node_errors:
        node, err = node_errors[-1]
        sentence += f": {node}: {err.message}"
    elif errors:
        sentence += f": {errors[-1][1].message}"
    full = node_errors and all(isinstance(e, ResourceExhausted) for _, e in node_errors)
    return (ResourceExhausted if full else Unavailable)(sentence)


# -- pure-ish helpers: files and bounded concurrency -----------------------------------------


def _open_for_read(path: Path) -> tuple[int, int]:
    """An open descriptor and the size of the regular file at `path`, or a sentence why not."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise InvalidArgument(f"cannot read {path}: {sinks.reason(err)}") from None
    st = os.fstat(fd)
    if not statmod.S_ISREG(st.st_mode):
        os.close(fd)
        why = "is a directory" if statmod.S_ISDIR(st.st_mode) else "not a regular file"
        raise InvalidArgument(f"cannot read {path}: {why}")
    return fd, st.st_size


def _read_and_encrypt(
    fd: int, path: Path, span: SegmentSpan, key: bytes, file_id: str
) -> tuple[str, bytes]:
    parts: list[bytes] = []
    got = 0
    while got < span.length:
        try:
            piece = os.pread(fd, span.length - got, span.offset + got)
        except OSError as err:
            raise InvalidArgument(f"cannot read {path}: {sinks.reason(err)}") from None
        if not piece:
            raise InvalidArgument(f"cannot read {path}: it shrank while it was being stored")
        parts.append(piece)
        got += len(piece)
    plain = parts[0] if len(parts) == 1 else b"".join(parts)
    del parts
    stored = encrypt_segment(key, file_id, span.index, plain)
    return hash_chunk(stored), stored


def _read_encrypt_prepare(
    fd: int, path: Path, span: SegmentSpan, key: bytes, file_id: str
) -> tuple[str, transfer.PreparedChunk]:
    chunk, stored = _read_and_encrypt(fd, path, span, key, file_id)
    return chunk, transfer.PreparedChunk.of(stored)


def _decode_and_decrypt(
    key: bytes,
    file_id: str,
    seg: types_pb2.Segment,
    *,
    shares: dict[int, bytearray],
    code: tuple[int, int],
) -> bytes:
    data = ec.decode(shares, code[0], code[1], seg.stored_size)
    shares.clear()  # the decoded bytes replace them: keep one copy of the segment, not two
    return decrypt_segment(key, file_id, seg.index, data)


MAX_TTL_S = 100 * 365 * 86400


def _ttl_ms(ttl_s: float | None) -> int:
    """A time to live in whole milliseconds; None → 0 (never expires)."""
    if ttl_s is None:
        return 0
    if not 0 < ttl_s <= MAX_TTL_S:
        raise InvalidArgument(
            f"a time to live must be more than 0 s and at most 100 years, not {ttl_s:g} s"
        )
    return max(1, round(ttl_s * 1000))


def _check_file_id(file_id: str) -> None:
    if not is_file_id(file_id):
        raise InvalidArgument(f"{file_id!r} is not a file ID (32 lowercase hex characters)")


async def _bounded(items: Iterable[T], worker: Callable[[T], Awaitable[None]], limit: int) -> None:
    """Run `worker` over `items` with at most `limit` running; the first failure cancels the
    rest and is raised as itself (not wrapped in an ExceptionGroup)."""
    slots = asyncio.Semaphore(limit)

    async def run(item: T) -> None:
        try:
            await worker(item)
        finally:
            slots.release()

    try:
        async with asyncio.TaskGroup() as tg:
            for item in items:
                await slots.acquire()
                tg.create_task(run(item))
    except BaseExceptionGroup as group:
        raise _first_error(group) from None


def _first_error(group: BaseExceptionGroup) -> BaseException:
    pending: list[BaseException] = list(group.exceptions)
    fallback: BaseException | None = None
    while pending:
        err = pending.pop(0)
        if isinstance(err, BaseExceptionGroup):
            pending.extend(err.exceptions)
        elif isinstance(err, StratosError):
            return err
        elif fallback is None and not isinstance(err, asyncio.CancelledError):
            fallback = err
    return fallback or DataLoss("the transfer failed for an unknown reason")
