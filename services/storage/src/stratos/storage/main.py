"""Entry point of `stratos-storage`: wires settings, the chunk store, the gRPC server and the
heartbeats together, and takes them down in order on SIGTERM.

gRPC comes up first and does not wait for NATS: a node can serve reads and writes while the
bus is down, and starts heartbeating as soon as it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from stratos.common import identity
from stratos.common.config import load_settings
from stratos.common.errors import ConfigError
from stratos.common.lifecycle import run_service
from stratos.common.logging import configure_logging, get_logger
from stratos.common.tracing import setup_tracing
from stratos.storage import __version__
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.config import StorageSettings
from stratos.storage.grpcserver import start_storage_server
from stratos.storage.heartbeat import Heartbeater, NodeDescriptor
from stratos.storage.natslink import NatsLink
from stratos.storage.servicer import StorageService

log = get_logger(__name__)

_WILDCARD_HOSTS = {"", "0.0.0.0", "[::]", "::"}


def advertise_address(settings: StorageSettings, port: int) -> str:
    """Where other processes reach this node: the explicit setting, else the bound host:port
    (a wildcard bind is advertised under the host name, which peers can resolve)."""
    if settings.advertise_address:
        return settings.advertise_address
    host = settings.grpc_address.rsplit(":", 1)[0]
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()
    return f"{host}:{port}"


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


async def serve(stop: asyncio.Event, settings: StorageSettings | None = None) -> None:
    """Run one storage node until `stop` is set."""
    settings = settings or load_settings(StorageSettings)
    configure_logging("storage", settings.log_level)
    setup_tracing("stratos-storage")
    try:
        ident = identity.load_or_create(settings.data_dir / "identity.pem")
    except OSError as err:
        raise ConfigError(
            f"cannot use the data directory {settings.data_dir} (STRATOS_DATA_DIR): "
            f"{err.strerror or err}"
        ) from None
    store = await asyncio.to_thread(open_store, settings)

    service = StorageService(store, zone=settings.zone, max_active_puts=settings.max_active_puts)
    running = await start_storage_server(settings.grpc_address, service)
    address = advertise_address(settings, running.port)
    log.info("grpc_listening", port=running.port, address=address, node_id=settings.node_id)

    node = NodeDescriptor(
        node_id=settings.node_id,
        address=address,
        zone=settings.zone,
        public_key=ident.public_bytes,
        version=__version__,
    )
    link = NatsLink(settings.nats_url, name=f"stratos-storage-{settings.node_id}")
    heartbeats = Heartbeater(node, store.stat, link.publish, settings.heartbeat_interval_s)
    beating = asyncio.create_task(heartbeats.run(stop))
    connecting = asyncio.create_task(link.run(on_ready=heartbeats.poke))
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        stop.set()
        await beating
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        await link.close()
        await running.stop(settings.shutdown_grace_s)
        log.info("stopped")


def main() -> int:
    return run_service(serve)


if __name__ == "__main__":
    raise SystemExit(main())
