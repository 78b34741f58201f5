"""Entry point of `stratos-storage`: wires settings, the chunk store, the gRPC server, the NATS
link, the heartbeats and the repair worker together as one stack of components
(`stratos.common.lifecycle`), and takes them down in reverse order on SIGTERM.

gRPC comes up first and does not wait for NATS: a node can serve reads and writes while the
bus is down, and starts heartbeating and taking repair jobs as soon as it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from stratos.common import identity, tls
from stratos.common.admission_source import AdmissionSource, self_problem
from stratos.common.config import load_settings
from stratos.common.errors import ConfigError
from stratos.common.grpcutil import serving
from stratos.common.lifecycle import background, first_or_stop, run_service
from stratos.common.logging import configure_logging, get_logger
from stratos.common.nats_trust import Gate, Signer
from stratos.common.tracing import setup_tracing
from stratos.storage import __version__
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.config import StorageSettings
from stratos.storage.grpcserver import start_storage_server
from stratos.storage.heartbeat import Heartbeater, NodeDescriptor
from stratos.storage.natslink import NatsLink
from stratos.storage.ratelimit import AdaptiveLimiter
from stratos.storage.receipts_in import ReceiptDesk
from stratos.storage.repair_exec import RepairExecutor
from stratos.storage.repair_fetch import Channels, Puller
from stratos.storage.repair_worker import RepairWorker, WorkerSettings
from stratos.storage.servicer import StorageService
from stratos.storage.ticket_check import TicketCheck
from stratos.v1 import auth_pb2

log = get_logger(__name__)

_WILDCARD_HOSTS = {"", "0.0.0.0", "[::]", "::"}
# Transfer deadlines assume at least this rate per repair transfer (or the node's share of its
# repair rate limit, when that is lower).
MIN_TRANSFER_RATE_BYTES_S = 1024 * 1024


def advertise_address(settings: StorageSettings, port: int) -> str:
    """Where other processes reach this node: the explicit setting, else the bound host:port
    (a wildcard bind is advertised under the host name, which peers can resolve)."""
    if settings.advertise_address:
        return settings.advertise_address
    host = settings.grpc_address.rsplit(":", 1)[0]
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()
    return f"{host}:{port}"


def build_repair_worker(
    settings: StorageSettings,
    store: ChunkStore,
    channels: Channels,
    busy: Callable[[], bool] = lambda: False,
    *,
    signer: Signer,
    gate: Gate,
) -> RepairWorker:
    """The repair executor and its JetStream worker, with one rate limit for all transfers:
    full speed while `busy()` (client traffic on this node) is false, throttled while true."""
    limiter = AdaptiveLimiter(settings.repair_rate_bytes_s, settings.repair_busy_rate_bytes_s, busy)
    min_rate = float(MIN_TRANSFER_RATE_BYTES_S)
    if limiter.rate_bytes_s:
        min_rate = min(min_rate, limiter.rate_bytes_s / settings.repair_concurrency / 2)
    executor = RepairExecutor(
        store, Puller(channels, limiter, min_rate_bytes_s=min_rate, identity=signer.identity)
    )
    return RepairWorker(
        executor,
        settings.node_id,
        WorkerSettings(
            concurrency=settings.repair_concurrency,
            ack_wait_s=settings.repair_ack_wait_s,
            max_deliver=settings.repair_max_deliver,
            stop_grace_s=settings.shutdown_grace_s,
        ),
        signer=signer,
        gate=gate,
    )


async def run_repairs(
    link: NatsLink, ready: asyncio.Event, worker: RepairWorker, stop: asyncio.Event
) -> None:
    """Start taking repair jobs once NATS is connected; return when `stop` is set."""
    await first_or_stop(ready.wait(), stop)
    if stop.is_set() or link.nc is None:
        return
    try:
        await worker.run(link.nc, stop)
    except Exception:  # a bug in the worker must not take gRPC serving down with it
        log.exception("repair_worker_crashed")


def open_store(settings: StorageSettings) -> ChunkStore:
    try:
        return ChunkStore(
            settings.data_dir,
            node_id=settings.node_id,
            capacity_bytes=settings.capacity_bytes,
            max_chunk_bytes=settings.max_chunk_bytes,
        )
    except OSError as err:
        raise ConfigError(
            f"cannot use the data directory {settings.data_dir} (STRATOS_DATA_DIR): "
            f"{err.strerror or err}"
        ) from None


def load_identity(settings: StorageSettings) -> identity.Identity:
    """The node's key: STRATOS_NODE_KEY_FILE, which must exist (a key made here would be
    admitted by nobody), else DATA_DIR/identity.pem, made on first start."""
    if settings.node_key_file is not None:
        path = settings.node_key_file
        if not path.is_file():
            raise ConfigError(
                f"the identity key {path} (STRATOS_NODE_KEY_FILE) does not exist: it is the "
                f"PEM file whose public key the admission list gives {settings.node_id}"
            )
        try:
            return identity.load_or_create(path)
        except OSError as err:
            raise ConfigError(
                f"cannot read {path} (STRATOS_NODE_KEY_FILE): {err.strerror or err}"
            ) from None
    try:
        return identity.load_or_create(settings.data_dir / "identity.pem")
    except OSError as err:
        raise ConfigError(
            f"cannot use the data directory {settings.data_dir} (STRATOS_DATA_DIR): "
            f"{err.strerror or err}"
        ) from None


async def serve(
    stop: asyncio.Event,
    settings: StorageSettings | None = None,
    admission: AdmissionSource | None = None,
    credentials: tls.Credentials | None = None,
) -> None:
    """Run one storage node until `stop` is set. `admission` (default: from the environment)
    says who is in the mesh: whose NATS messages to believe and whose tickets to accept. gRPC is
    mutual TLS with the credentials the settings name (`credentials`: only a test passes them)."""
    settings = settings or load_settings(StorageSettings)
    configure_logging("storage", settings.log_level)
    setup_tracing("stratos-storage")
    admission = admission or AdmissionSource.from_env()
    credentials = credentials or tls.from_settings(settings).credentials()
    ident = load_identity(settings)
    store = await asyncio.to_thread(open_store, settings)
    role = auth_pb2.MESH_ROLE_STORAGE
    if problem := self_problem(admission.current(), settings.node_id, ident.public_bytes, role):
        log.warning("not_admitted", problem=problem)
    signer, gate = Signer(settings.node_id, ident), Gate(admission.current)

    checker = TicketCheck(admission.current, settings.node_id)
    service = StorageService(
        store, zone=settings.zone, tickets=checker, max_active_puts=settings.max_active_puts
    )
    # One stack: entered in this order, closed in reverse (also when a later part fails to
    # start) — running repair jobs finish (or are handed back) while NATS is still connected.
    async with contextlib.AsyncExitStack() as stack:
        running = await stack.enter_async_context(
            serving(
                start_storage_server(
                    settings.grpc_address,
                    service,
                    credentials,
                    health_address=settings.health_address,
                ),
                grace_s=settings.shutdown_grace_s,
            )
        )
        address = advertise_address(settings, running.port)
        log.info("grpc_listening", port=running.port, address=address, node_id=settings.node_id)

        node = NodeDescriptor(
            node_id=settings.node_id,
            address=address,
            zone=settings.zone,
            public_key=ident.public_bytes,
            version=__version__,
        )
        link = NatsLink(
            settings.nats_url,
            name=f"stratos-storage-{settings.node_id}",
            signer=signer,
            login=settings.nats_login(),
        )
        service.receipts = ReceiptDesk(admission.current, settings.node_id, link.publish_stored)
        heartbeats = Heartbeater(node, store.stat, link.publish, settings.heartbeat_interval_s)
        nats_ready = asyncio.Event()

        def on_nats_ready() -> None:
            heartbeats.poke()
            nats_ready.set()

        await stack.enter_async_context(link.running(on_ready=on_nats_ready))
        await stack.enter_async_context(
            background(heartbeats.run(stop), name="heartbeats", stop=stop)
        )
        channels = await stack.enter_async_context(Channels(credentials.channel))
        worker = build_repair_worker(
            settings, store, channels, busy=service.activity.busy, signer=signer, gate=gate
        )
        await stack.enter_async_context(
            background(run_repairs(link, nats_ready, worker, stop), name="repairs", stop=stop)
        )
        await stop.wait()
        log.info("stopping")
    log.info("stopped")


def main() -> int:
    return run_service(serve)


if __name__ == "__main__":
    raise SystemExit(main())
