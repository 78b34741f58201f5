"""Helpers the index tests share: an in-process index on loopback against a real nats-server,
storage-node heartbeats and owner-signed manifests built the way a client builds them.

`MESH` is the test's admission list (set by conftest's autouse `mesh` fixture): a heartbeat
published here is signed by the node it names, admitted on first use, as a real node's is."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from nats.aio.client import Client as NATS

from stratos.common import natsutil
from stratos.common.admin_auth import AdminCheck
from stratos.common.grpcutil import RunningServer, start_server
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity
from stratos.common.lifecycle import cancel_and_wait
from stratos.common.limits import MIN_SEGMENT_BYTES
from stratos.common.sealed_metadata import seal
from stratos.common.signed import sign as sign_message
from stratos.common.testing import INDEX_ID, TrustedMesh
from stratos.common.testing_tls import channel_credentials, server_credentials
from stratos.index.config import IndexSettings
from stratos.index.drains import DrainRegistry
from stratos.index.heartbeats import HeartbeatFeed
from stratos.index.manifest_rules import delete_message, manifest_message
from stratos.index.manifests import ManifestStore, now_ms
from stratos.index.registry import Registry
from stratos.index.servicer import SERVICE_NAME, IndexService
from stratos.index.ticketing import TicketSigner
from stratos.v1 import events_pb2, index_pb2, index_pb2_grpc, types_pb2

GIB = 1 << 30
MESH: TrustedMesh | None = None


def mesh() -> TrustedMesh:
    assert MESH is not None, "the conftest's `mesh` fixture sets it"
    return MESH


def index_trust() -> dict:
    """What an in-process index component is given to sign and check with."""
    return {"signer": mesh().signer(INDEX_ID), "gate": mesh().gate()}


@dataclass
class RunningIndex:
    stub: index_pb2_grpc.IndexServiceStub
    registry: Registry
    feed: HeartbeatFeed
    server: RunningServer
    nc: NATS
    drains: DrainRegistry | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@asynccontextmanager
async def running_index(
    nats_url: str,
    clock: Callable[[], int] = now_ms,
    stream_watch_s: float = 5.0,
    with_drains: bool = False,
    with_tickets: bool = False,
    **overrides: object,
) -> AsyncIterator[RunningIndex]:
    """The real IndexService, wired as main.py wires it, serving gRPC on a loopback port
    (with the drains bucket when `with_drains`, signing tickets when `with_tickets`; the repair
    loop is not run)."""
    settings = IndexSettings(nats_url=nats_url, **overrides)
    nc = await natsutil.connect(nats_url, name="test-index", connect_deadline_s=10)
    feed = None
    server = None
    try:
        store = await ManifestStore.open(nc.jetstream(), clock, replicas=1)
        registry = Registry(settings.suspect_after_s, settings.lost_after_s)
        feed = HeartbeatFeed(
            nc, registry, watch_interval_s=stream_watch_s, replicas=1, gate=mesh().gate()
        )
        await feed.start()
        drains = await DrainRegistry.open(nc.jetstream(), replicas=1) if with_drains else None
        service = IndexService(
            settings,
            registry,
            store,
            nc,
            clock,
            drains=drains,
            signer=mesh().signer(INDEX_ID),
            admin=AdminCheck(mesh().admin.public_bytes),
            tickets=TicketSigner(mesh().identities[INDEX_ID], INDEX_ID) if with_tickets else None,
            admission=mesh().source(check_every_s=0).current,
        )
        server = await start_server(
            "127.0.0.1:0",
            lambda s: index_pb2_grpc.add_IndexServiceServicer_to_server(service, s),
            [SERVICE_NAME],
            credentials=server_credentials("index", "index"),
        )
        async with grpc.aio.secure_channel(f"127.0.0.1:{server.port}", channel_credentials()) as ch:
            yield RunningIndex(
                index_pb2_grpc.IndexServiceStub(ch), registry, feed, server, nc, drains
            )
    finally:
        if server is not None:
            await server.stop(0)
        if feed is not None:
            await feed.stop()
        await nc.close()


def heartbeat(
    node_id: str,
    *,
    zone: str = "z1",
    capacity: int = 10 * GIB,
    used: int = 0,
    sent_unix_ms: int | None = None,
    chunk_count: int = 0,
) -> events_pb2.Heartbeat:
    return events_pb2.Heartbeat(
        node=types_pb2.NodeInfo(
            node_id=node_id,
            address=f"127.0.0.1:{7200 + sum(node_id.encode()) % 700}",
            zone=zone,
            capacity_bytes=capacity,
            used_bytes=used,
            version="test",
        ),
        sent_unix_ms=now_ms() if sent_unix_ms is None else sent_unix_ms,
        chunk_count=chunk_count,
    )


async def publish_heartbeat(nc: NATS, hb: events_pb2.Heartbeat) -> None:
    """Publish as a storage node does (`signed_heartbeat`); through JetStream so the stored copy
    is acknowledged."""
    subject, data, headers = signed_heartbeat(hb)
    await nc.jetstream().publish(subject, data, headers=headers)


def signed_heartbeat(hb: events_pb2.Heartbeat) -> tuple[str, bytes, dict[str, str]]:
    """Subject, payload and headers of `hb` signed by the node it names (admitted on first use,
    with its key in the body), dated as the heartbeat says."""
    node_id = hb.node.node_id
    m = mesh()
    if node_id not in m.identities:
        m.storage(node_id)
    hb.node.public_key = m.identities[node_id].public_bytes
    subject = natsutil.HEARTBEAT_SUBJECT.format(node_id=node_id)
    data = hb.SerializeToString()
    return (
        subject,
        data,
        sign_message(m.identities[node_id], node_id, subject, data, hb.sent_unix_ms),
    )


SEGMENT = MIN_SEGMENT_BYTES  # the smallest segments the index accepts keep test files small


@asynccontextmanager
async def beating(
    nc: NATS, *beats: events_pb2.Heartbeat, interval_s: float = 0.5
) -> AsyncIterator[None]:
    """Storage nodes that stay alive, as running ones do: each heartbeat is published now and
    again every `interval_s` with a fresh time, until the block ends. A node that beat once is
    SUSPECT 6 s later (STRATOS_SUSPECT_AFTER_S) and takes no new chunks nor repair copies, and a
    test on a busy machine can take longer than that to reach its next step."""

    async def beat() -> None:
        for hb in beats:
            fresh = events_pb2.Heartbeat()
            fresh.CopyFrom(hb)
            fresh.sent_unix_ms = now_ms()
            await publish_heartbeat(nc, fresh)

    async def keep_beating() -> None:
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(Exception):  # NATS away for a moment: the next beat goes
                await beat()

    await beat()
    task = asyncio.create_task(keep_beating())
    try:
        yield
    finally:
        await cancel_and_wait(task)


def new_file_id() -> str:
    return os.urandom(16).hex()


FILE_KEY = bytes(range(32))  # the key test manifests seal their names with


def sealed_name(file_id: str, name: str = "report.pdf") -> types_pb2.SealedMetadata:
    """A file name sealed as the SDK seals it (the index can check its shape, not read it)."""
    return seal(FILE_KEY, file_id, types_pb2.FileMetadata(name=name))


def build_manifest(
    file_id: str,
    *,
    name: str = "report.pdf",
    size: int = 2 * SEGMENT + 1808,
    segment_size: int = SEGMENT,
    replicas: int = 2,
    nodes: tuple[str, ...] = ("n1", "n2"),
) -> types_pb2.Manifest:
    """A structurally valid manifest, as a writer would commit after storing every segment."""
    segments = []
    offset = 0
    index = 0
    while offset < size:
        plain = min(segment_size, size - offset)
        segments.append(
            types_pb2.Segment(
                index=index,
                chunk_id=chunk_id(f"{file_id}/{index}".encode()),
                plain_size=plain,
                stored_size=plain + 16,
                node_ids=list(nodes[:replicas]),
            )
        )
        offset += plain
        index += 1
    return types_pb2.Manifest(
        file_id=file_id,
        metadata=sealed_name(file_id, name),
        size=size,
        segment_size=segment_size,
        replicas=replicas,
        cipher=types_pb2.CIPHER_AES_256_GCM,
        created_unix_ms=now_ms(),
        segments=segments,
    )


def sign(owner: Identity, manifest: types_pb2.Manifest) -> types_pb2.SignedManifest:
    body = manifest.SerializeToString()
    return types_pb2.SignedManifest(
        manifest=body,
        owner_public_key=owner.public_bytes,
        signature=owner.sign(manifest_message(body)),
    )


def delete_request(
    owner: Identity, file_id: str, unix_ms: int | None = None
) -> index_pb2.DeleteFileRequest:
    ts = now_ms() if unix_ms is None else unix_ms
    return index_pb2.DeleteFileRequest(
        file_id=file_id,
        unix_ms=ts,
        owner_public_key=owner.public_bytes,
        signature=owner.sign(delete_message(file_id, ts)),
    )
