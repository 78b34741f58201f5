"""The gRPC edge of the index: translate requests into calls on the registry, the placement
rules and the manifest store, and their answers (or one-sentence errors) back into responses.
PlaceChunks and GetManifest also carry the tickets a signed ask is owed (`ticketing`), so a small
file's put is one PlaceChunks (planned and placed together) and one CommitManifest, and its get
one GetManifest (manifest, node addresses and states, tickets)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NATS

from stratos.common.admin_auth import AdminCheck
from stratos.common.admission import Admission
from stratos.common.errors import NotFound, Unavailable
from stratos.common.grpcutil import rpc_edge
from stratos.common.identity import address_of
from stratos.common.logging import get_logger
from stratos.common.nats_trust import Signer
from stratos.common.natsutil import FILE_COMMITTED_SUBJECT, FILE_DELETED_SUBJECT
from stratos.common.tickets import check_ask, place_subject
from stratos.common.tracing import tracer
from stratos.index import drain_api
from stratos.index.cleanup import Cleanup
from stratos.index.cleanup_rules import expired_message, is_expired
from stratos.index.config import IndexSettings
from stratos.index.drains import DrainRegistry
from stratos.index.job_reads import payer_for_job_read
from stratos.index.locations import for_connection
from stratos.index.manifest_rules import check_not_expired, verify_signed
from stratos.index.manifests import ManifestStore, now_ms
from stratos.index.ozone import OzoneGate
from stratos.index.pieces import chunk_sizes, holders, manifest_holders
from stratos.index.planning import check_replicas, place_chunks, plan_write
from stratos.index.registry import Candidate, Registry
from stratos.index.repair_loop import RepairLoop
from stratos.index.ticketing import TicketSigner
from stratos.v1 import events_pb2, index_pb2, index_pb2_grpc, types_pb2

SERVICE_NAME = "stratos.v1.IndexService"
_tracer = tracer("stratos.index")
log = get_logger(__name__)


def _address(node: Candidate) -> index_pb2.NodeAddress:
    return index_pb2.NodeAddress(
        node_id=node.node_id, address=node.address, zone=node.zone, state=types_pb2.NODE_STATE_LIVE
    )


class IndexService(index_pb2_grpc.IndexServiceServicer):
    def __init__(
        self,
        settings: IndexSettings,
        registry: Registry,
        store: ManifestStore,
        nc: NATS,
        clock: Callable[[], int] = now_ms,
        *,
        repair: RepairLoop | None = None,
        drains: DrainRegistry | None = None,
        cleanup: Cleanup | None = None,
        signer: Signer,
        admin: AdminCheck,
        tickets: TicketSigner | None = None,
        ozone: OzoneGate | None = None,
        admission: Callable[[], Admission | None] = lambda: None,
    ) -> None:
        self._signer, self._admin = signer, admin
        self._admission = admission  # who is who: compute executors reading for a job
        self._ozone = ozone  # None: a mesh without a ledger, where traffic is free
        self._tickets = tickets  # None only in tests that exercise no storage RPC
        self._settings = settings
        self._registry = registry
        self._store = store
        self._nc = nc
        self._clock = clock
        self._repair = repair
        self._drains = drains
        self._cleanup = cleanup

    def _candidates(self) -> list[Candidate]:
        """Live nodes new chunks may go to: not those being drained."""
        live = self._registry.candidates(self._clock())
        if self._drains is None:
            return live
        draining = self._drains.draining()
        return [c for c in live if c.node_id not in draining]

    def _mesh(self) -> tuple[RepairLoop, DrainRegistry]:
        if self._repair is None or self._drains is None:
            raise Unavailable("this index runs without its repair loop")
        return self._repair, self._drains

    async def _announce(self, subject: str, summary: types_pb2.FileSummary) -> None:
        """Tell listeners a file changed. Best effort: the change itself is already durable in
        JetStream, so a failed announcement must not turn a done commit into an error."""
        event = events_pb2.FileEvent(file_id=summary.file_id, summary=summary)
        try:
            await self._signer.publish(self._nc, subject, event.SerializeToString())
        except Exception as exc:
            log.warning("file_event_not_published", subject=subject, error=str(exc))

    async def _collect(self, manifest: types_pb2.Manifest) -> None:
        """Best effort, like the announcement: the file is already gone, and chunks that miss
        their DELETE jobs now are orphans the garbage collector takes after the grace."""
        try:
            await self._cleanup.collect_file(manifest, reason="file deleted")
        except Exception as exc:
            log.warning(
                "deleted_file_chunks_not_collected", file_id=manifest.file_id, error=str(exc)
            )

    def _plan(self, replicas: int, size: int, live: list[Candidate]) -> int:
        return plan_write(
            replicas, size, self._settings.segment_size_bytes, live, self._settings.max_replicas
        )

    @rpc_edge
    async def PlanWrite(self, request, context):
        n_live = self._plan(request.replicas, request.size, self._candidates())
        return index_pb2.PlanWriteResponse(
            live_nodes=n_live, segment_size=self._settings.segment_size_bytes
        )

    @rpc_edge
    async def PlaceChunks(self, request, context):
        with _tracer.start_as_current_span(
            "place_chunks",
            attributes={
                "stratos.chunks": len(request.chunks),
                "stratos.replicas": request.replicas,
                "stratos.extra": request.extra,
                "stratos.excluded_nodes": len(request.exclude_node_ids),
            },
        ) as span:
            chunks = [(c.chunk_id, c.size) for c in request.chunks]
            holder = self._asker(request, "PlaceChunks", place_subject(chunks))
            live = self._candidates()
            span.set_attribute("stratos.live_nodes", len(live))
            if request.HasField("file_size"):  # a one-chunk file: PlanWrite's check first
                self._plan(request.replicas, request.file_size, live)
            placed = place_chunks(
                [(c.chunk_id, c.size) for c in request.chunks],
                live,
                request.replicas,
                self._settings.max_replicas,
                exclude=list(request.exclude_node_ids),
                extra=request.extra,
            )
            if self._cleanup is not None:
                # Before answering: the writer stores the chunks only once it has the answer.
                await self._cleanup.reserve(cid for cid, _ in placed)
            granted = []
            if holder is not None:
                if self._ozone is not None:  # refused here, before any byte moves
                    need = sum(size for _, size in chunks) * max(1, request.replicas)
                    await self._ozone.spend(address_of(holder), need)
                granted = self._tickets.for_write(
                    holder,
                    dict(chunks),
                    [(cid, [n.node_id for n in nodes]) for cid, nodes in placed],
                )
        return index_pb2.PlaceChunksResponse(
            placements=[
                index_pb2.ChunkPlacement(chunk_id=cid, targets=[_address(n) for n in nodes])
                for cid, nodes in placed
            ],
            tickets=granted,
        )

    def _asker(self, request, method: str, subject: str) -> bytes | None:
        """The key tickets are asked for (checked), or None when none are asked for."""
        if self._tickets is None or not request.HasField("ask"):
            return None
        return check_ask(request.ask, method, subject, self._clock())

    @rpc_edge
    async def CommitManifest(self, request, context):
        with _tracer.start_as_current_span("commit_manifest") as span:
            manifest = verify_signed(request.signed)
            # The repair loop keeps `replicas` copies: no more than a write may ask for.
            check_replicas(manifest.replicas, self._settings.max_replicas)
            check_not_expired(manifest, self._clock())
            held = {}
            if self._cleanup is not None:
                held = await self._cleanup.check_commit(manifest)
            summary = await self._store.commit(request.signed, verified=manifest)
            if self._cleanup is not None:
                self._cleanup.committed(manifest, held)  # released after this answer
            span.set_attributes(
                {
                    "stratos.file_id": summary.file_id,
                    "stratos.size": summary.size,
                    "stratos.segments": summary.segments,
                    "stratos.replicas": summary.replicas,
                }
            )
            await self._announce(FILE_COMMITTED_SUBJECT, summary)
        return index_pb2.CommitManifestResponse(summary=summary)

    @rpc_edge
    async def GetManifest(self, request, context):
        holder = self._asker(request, "GetManifest", request.file_id)
        where = await for_connection(self._nc, replicas=self._settings.nats_replicas)
        # Both reads at once: a get waits for one NATS round trip, not two.
        signed, locations = await _both(
            self._store.get(request.file_id), where.get(request.file_id)
        )
        manifest = types_pb2.Manifest.FromString(signed.manifest)
        if is_expired(manifest.expires_unix_ms, self._clock()):
            # Hidden at once; the expiry sweep removes it and collects its chunks soon after.
            raise NotFound(expired_message(request.file_id, manifest.expires_unix_ms))
        signed_by, now_at = manifest_holders(manifest), holders(manifest, locations)
        held = [*signed_by.values(), *now_at.values()]
        named = sorted({n for ids in held for n in ids})
        nodes = []
        now = self._clock()
        for node_id in named:
            rec = self._registry.get(node_id)
            if rec is not None:
                nodes.append(
                    index_pb2.NodeAddress(
                        node_id=node_id,
                        address=rec.info.address,
                        zone=rec.info.zone,
                        state=self._registry.state_of(rec, now),
                    )
                )
        granted = []
        if holder is not None:
            payer = address_of(holder)
            if request.HasField("job"):  # an executor reading a job's input: its payer pays
                payer = payer_for_job_read(
                    request.job, holder, request.file_id, self._admission(), self._clock()
                )
            sizes = chunk_sizes(manifest)
            if self._ozone is not None:
                await self._ozone.spend(payer, sum(sizes.values()))
            granted = self._tickets.for_read(
                holder,
                request.file_id,
                (
                    (cid, size, {*signed_by.get(cid, ()), *now_at.get(cid, ())})
                    for cid, size in sizes.items()
                ),
                payer=payer,
            )
        return index_pb2.GetManifestResponse(
            signed=signed, nodes=nodes, locations=locations, tickets=granted
        )

    @rpc_edge
    async def ListFiles(self, request, context):
        files, token = await self._store.list(
            request.limit, request.page_token, request.owner_public_key
        )
        now = self._clock()
        # A page may come out shorter than asked; the token still resumes after the last key.
        files = [f for f in files if not is_expired(f.expires_unix_ms, now)]
        return index_pb2.ListFilesResponse(files=files, next_page_token=token)

    @rpc_edge
    async def DeleteFile(self, request, context):
        before = await self._store.get(request.file_id) if self._cleanup is not None else None
        summary = await self._store.delete(
            request.file_id, request.unix_ms, request.owner_public_key, request.signature
        )
        await self._announce(FILE_DELETED_SUBJECT, summary)
        if before is not None:
            await self._collect(types_pb2.Manifest.FromString(before.manifest))
        return index_pb2.DeleteFileResponse(deleted=True)

    @rpc_edge
    async def ListNodes(self, request, context):
        nodes = self._registry.statuses(self._clock())
        draining = self._drains.draining() if self._drains is not None else frozenset()
        for node in nodes:
            node.draining = node.info.node_id in draining
        return index_pb2.ListNodesResponse(nodes=nodes)

    @rpc_edge
    async def DrainNode(self, request, context):
        self._admin.check("DrainNode", request)  # PERMISSION_DENIED unless the admin signed it
        repair, drains = self._mesh()
        status = await drain_api.drain_node(repair, drains, request)
        log.info(
            "drain_requested",
            node=request.node_id,
            cancel=request.cancel,
            state=index_pb2.DrainState.Name(status.state),
            chunks_left=status.chunks_left,
        )
        return status

    @rpc_edge
    async def GetDrainStatus(self, request, context):
        repair, drains = self._mesh()
        return await drain_api.drain_status(repair, drains, request.node_id)

    @rpc_edge
    async def GetHealth(self, request, context):
        repair, drains = self._mesh()
        return drain_api.health(repair, drains, self._registry.statuses(self._clock()))


async def _both(first, second):
    """Await two reads concurrently; the first one's error wins (a missing manifest is the
    answer, whatever the locations read did), and neither is left running."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        return await tasks[0], await tasks[1]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # retrieved, so an unneeded failure is not logged as lost
