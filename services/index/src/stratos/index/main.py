"""Process entry point of the index: settings, logging, tracing, NATS, the heartbeat feed, the
manifest store, the repair loop, the auditor, cleanup and the gRPC server, and a clean stop on
SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats.errors
from nats.aio.client import Client as NATS

from stratos.common.config import load_settings
from stratos.common.errors import Unavailable
from stratos.common.grpcutil import start_server
from stratos.common.lifecycle import run_service
from stratos.common.logging import configure_logging, get_logger
from stratos.common.natsutil import connect
from stratos.common.tracing import setup_tracing
from stratos.index.auditor import Auditor
from stratos.index.cleanup import Cleanup
from stratos.index.config import IndexSettings
from stratos.index.drains import DrainRegistry
from stratos.index.heartbeats import HeartbeatFeed
from stratos.index.manifests import ManifestStore, now_ms
from stratos.index.registry import Registry
from stratos.index.repair_loop import RepairLoop
from stratos.index.servicer import SERVICE_NAME, IndexService
from stratos.v1 import index_pb2_grpc

SERVICE = "stratos-index"
log = get_logger(__name__)


async def _connect_or_stop(settings: IndexSettings, stop: asyncio.Event) -> NATS | None:
    """Connect to NATS within the deadline; None when SIGTERM comes first.

    natsutil.connect asks nats-py for endless reconnects, which also makes the *first* connect
    retry forever (its own deadline is never reached), so the deadline is enforced here."""
    timeout_s = settings.nats_connect_timeout_s
    log.info("nats_connecting", url=settings.nats_url, timeout_s=timeout_s)
    connecting = asyncio.ensure_future(
        asyncio.wait_for(
            connect(settings.nats_url, name=SERVICE, connect_deadline_s=timeout_s), timeout_s
        )
    )
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connecting
        return None
    try:
        return connecting.result()
    except TimeoutError:
        raise Unavailable(
            f"cannot connect to NATS at {settings.nats_url} within {timeout_s:g} s "
            "(STRATOS_NATS_URL); is it running?"
        ) from None


@contextlib.asynccontextmanager
async def _jetstream_holds(settings: IndexSettings, what: str) -> AsyncIterator[None]:
    """A NATS without JetStream (or without room) stops the index with one sentence."""
    try:
        yield
    except (nats.errors.Error, TimeoutError) as exc:
        raise Unavailable(
            f"NATS at {settings.nats_url} cannot hold {what} (is JetStream enabled?): {exc}"
        ) from None


async def serve(stop: asyncio.Event) -> None:
    settings = load_settings(IndexSettings)
    configure_logging(SERVICE, settings.log_level)
    setup_tracing(SERVICE)
    nc = await _connect_or_stop(settings, stop)
    if nc is None:
        log.info("stopped_before_connecting")
        return
    try:
        store = await ManifestStore.open(nc.jetstream(), replicas=settings.nats_replicas)
        registry = Registry(
            settings.suspect_after_s, settings.lost_after_s, watching_since_ms=now_ms()
        )
        feed = HeartbeatFeed(nc, registry, replicas=settings.nats_replicas)
        # Serve (and report healthy) only after the stored heartbeats are read, so the first
        # PlanWrite after a restart does not see an empty mesh.
        async with _jetstream_holds(settings, "the heartbeat stream"):
            await feed.start()
        async with _jetstream_holds(settings, "the drain bucket"):
            drains = await DrainRegistry.open(nc.jetstream(), replicas=settings.nats_replicas)
            drains.start()
        repair = RepairLoop(
            nc, registry, settings, ready=lambda: feed.ready, draining=drains.draining
        )
        async with _jetstream_holds(settings, "the repair stream and buckets"):
            await repair.start()
        auditor = Auditor(nc, settings, snapshot=lambda: repair.snapshot)
        async with _jetstream_holds(settings, "the locations and manifest buckets"):
            await auditor.start()
        cleanup = Cleanup(nc, registry, settings, ready=lambda: feed.ready)
        async with _jetstream_holds(settings, "the reservations bucket"):
            await cleanup.start()
        service = IndexService(
            settings, registry, store, nc, repair=repair, drains=drains, cleanup=cleanup
        )
        server = await start_server(
            settings.grpc_address,
            lambda s: index_pb2_grpc.add_IndexServiceServicer_to_server(service, s),
            [SERVICE_NAME],
        )
        host = settings.grpc_address.rsplit(":", 1)[0]
        log.info(
            "grpc_listening",
            port=server.port,
            address=f"{host}:{server.port}",
            nodes=len(registry),
        )
        await stop.wait()
        log.info("stopping", grace_s=settings.shutdown_grace_s)
        await server.stop(settings.shutdown_grace_s)
        await cleanup.stop()
        await auditor.stop()
        await repair.stop()
        await drains.stop()
        await feed.stop()
    finally:
        if nc.is_connected:
            await nc.drain()
        else:
            await nc.close()
    log.info("stopped")


def main() -> int:
    return run_service(serve)


if __name__ == "__main__":
    raise SystemExit(main())
