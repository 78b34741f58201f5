"""Process entry point of the index: settings, logging, tracing, then its components in start
order — NATS, the manifest store, the heartbeat feed, the drain registry, the repair loop, the
auditor, cleanup and the gRPC server — and a clean stop, in reverse order, on SIGTERM or when a
component cannot start."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import nats.errors
from nats.aio.client import Client as NATS

from stratos.common import tls
from stratos.common.admin_auth import AdminCheck
from stratos.common.admission_source import AdmissionSource, self_problem
from stratos.common.chain_client import Chain
from stratos.common.config import load_settings
from stratos.common.errors import Unavailable
from stratos.common.grpcutil import serving, start_server
from stratos.common.identity import Identity, load_admitted
from stratos.common.lifecycle import background, first_or_stop, run_service
from stratos.common.logging import configure_logging, get_logger
from stratos.common.nats_trust import Gate, Signer
from stratos.common.natsutil import connect
from stratos.common.tracing import setup_tracing
from stratos.index.auditor import Auditor
from stratos.index.catalog import Catalog
from stratos.index.cleanup import Cleanup
from stratos.index.config import IndexSettings
from stratos.index.drains import DrainRegistry
from stratos.index.heartbeats import HeartbeatFeed
from stratos.index.manifests import ManifestStore, now_ms
from stratos.index.ozone import OzoneGate
from stratos.index.registry import Registry
from stratos.index.repair_loop import RepairLoop
from stratos.index.servicer import SERVICE_NAME, IndexService
from stratos.index.standing import Standing
from stratos.index.ticketing import TicketSigner
from stratos.v1 import auth_pb2, index_pb2_grpc

SERVICE = "stratos-index"
log = get_logger(__name__)
C = TypeVar("C")


@contextlib.asynccontextmanager
async def nats_connection(settings: IndexSettings) -> AsyncIterator[NATS]:
    """The index's NATS connection, made within STRATOS_NATS_CONNECT_TIMEOUT_S, drained on exit.

    natsutil.connect asks nats-py for endless reconnects, which also makes the *first* connect
    retry forever (its own deadline is never reached), so the deadline is enforced here."""
    timeout_s = settings.nats_connect_timeout_s
    log.info("nats_connecting", url=settings.nats_url, timeout_s=timeout_s)
    try:
        nc = await asyncio.wait_for(
            connect(
                settings.nats_url,
                name=SERVICE,
                connect_deadline_s=timeout_s,
                login=settings.nats_login(),
            ),
            timeout_s,
        )
    except TimeoutError:
        raise Unavailable(
            f"cannot connect to NATS at {settings.nats_url} within {timeout_s:g} s "
            "(STRATOS_NATS_URL); is it running?"
        ) from None
    try:
        yield nc
    finally:
        if nc.is_connected:
            await nc.drain()
        else:
            await nc.close()


@contextlib.asynccontextmanager
async def _opened(opening):
    """An object that needs no closing, as a component of the start-up stack."""
    yield await opening


def load_identity(settings: IndexSettings) -> Identity:
    """The replica's admitted key."""
    return load_admitted(settings.identity_file, settings.node_id, "index")


@contextlib.asynccontextmanager
async def _jetstream_holds(settings: IndexSettings, what: str) -> AsyncIterator[None]:
    """A NATS without JetStream (or without room) stops the index with one sentence."""
    try:
        yield
    except (nats.errors.Error, TimeoutError) as exc:
        raise Unavailable(
            f"NATS at {settings.nats_url} cannot hold {what} (is JetStream enabled?): {exc}"
        ) from None


async def serve(
    stop: asyncio.Event,
    credentials: tls.Credentials | None = None,
    *,
    tickets: TicketSigner | None = None,
) -> None:
    """Run the index until `stop` is set: one AsyncExitStack, each component entered in start
    order and closed in reverse, also when a later one fails to start (common.lifecycle).
    gRPC is mutual TLS with the credentials the settings name (`credentials`: only a test
    passes them). `tickets`: signs tickets as this meta node (default: with its admitted
    identity)."""
    settings = load_settings(IndexSettings)
    configure_logging(SERVICE, settings.log_level)
    setup_tracing(SERVICE)
    credentials = credentials or tls.from_settings(settings).credentials()
    admission = AdmissionSource.from_env()
    ident = load_identity(settings)
    role = auth_pb2.MESH_ROLE_META
    if problem := self_problem(admission.current(), settings.node_id, ident.public_bytes, role):
        log.warning("not_admitted", problem=problem)
    signer, gate = Signer(settings.node_id, ident), Gate(admission.current)
    tickets = tickets or TicketSigner(ident, settings.node_id)
    async with contextlib.AsyncExitStack() as stack:
        nc = await first_or_stop(stack.enter_async_context(nats_connection(settings)), stop)
        if nc is None:
            log.info("stopped_before_connecting")
            return

        async def enter(component: AbstractAsyncContextManager[C], holds: str) -> C:
            async with _jetstream_holds(settings, holds):
                return await stack.enter_async_context(component)

        store = await ManifestStore.open(nc.jetstream(), replicas=settings.nats_replicas)
        registry = Registry(
            settings.suspect_after_s, settings.lost_after_s, watching_since_ms=now_ms()
        )
        # Serve (and report healthy) only after the stored heartbeats are read, so the first
        # PlanWrite after a restart does not see an empty mesh.
        feed = await enter(
            HeartbeatFeed(nc, registry, replicas=settings.nats_replicas, gate=gate),
            "the heartbeat stream",
        )
        drains = await enter(
            DrainRegistry.refreshing(nc.jetstream(), replicas=settings.nats_replicas),
            "the drain bucket",
        )
        # Every file once at start, then only changes: what repair, cleanup, audits, drains and
        # listings read instead of the buckets.
        catalog = await enter(
            Catalog(nc.jetstream(), replicas=settings.nats_replicas),
            "the manifest and locations buckets",
        )
        store.catalog = catalog
        repair = await enter(
            RepairLoop(
                nc,
                registry,
                settings,
                catalog=catalog,
                ready=lambda: feed.ready,
                draining=drains.draining,
                tickets=tickets,
                signer=signer,
                gate=gate,
            ),
            "the repair stream and buckets",
        )
        await enter(
            Auditor(
                nc,
                settings,
                catalog,
                nodes=lambda: repair.nodes,
                tickets=tickets,
                signer=signer,
                credentials=credentials.channel,
            ),
            "the locations and manifest buckets",
        )
        cleanup = await enter(
            Cleanup(
                nc,
                registry,
                settings,
                catalog=catalog,
                credentials=credentials.channel,
                ready=lambda: feed.ready,
                tickets=tickets,
                signer=signer,
            ),
            "the reservations bucket",
        )
        ozone = None
        if settings.validators:
            chain = Chain(settings.validators, credentials.channel)
            stack.push_async_callback(chain.close)
            ozone = await enter(
                _opened(
                    OzoneGate.open(
                        nc.jetstream(),
                        chain,
                        settings.node_id,
                        now_ms,
                        replicas=settings.nats_replicas,
                    )
                ),
                "the ozone bucket",
            )
            # leases whose spending window ended give back what no ticket took
            await stack.enter_async_context(background(ozone.run(), name="ozone-release"))
            # nodes the ledger suspended get no new chunks
            await stack.enter_async_context(
                background(Standing(chain, registry).run(), name="standing")
            )
        service = IndexService(
            settings,
            registry,
            store,
            nc,
            repair=repair,
            drains=drains,
            cleanup=cleanup,
            tickets=tickets,
            signer=signer,
            admin=AdminCheck(admission.admin_key),
            ozone=ozone,
            admission=admission.current,
        )
        server = await stack.enter_async_context(
            serving(
                start_server(
                    settings.grpc_address,
                    lambda s: index_pb2_grpc.add_IndexServiceServicer_to_server(service, s),
                    [SERVICE_NAME],
                    credentials=credentials.server,
                    health_address=settings.health_address,
                ),
                grace_s=settings.shutdown_grace_s,
            )
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
    log.info("stopped")


def main() -> int:
    return run_service(serve)


if __name__ == "__main__":
    raise SystemExit(main())
