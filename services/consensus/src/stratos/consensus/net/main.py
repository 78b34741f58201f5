"""Process entry point of a validator node: settings, logging, tracing, the validator key, the
genesis and the block store, the gRPC server, the peer links, block sync, NATS publishing
(optional) and the engine — and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib

from stratos.common.config import load_settings
from stratos.common.errors import ConfigError, InvalidArgument, StratosError
from stratos.common.grpcutil import start_server
from stratos.common.identity import load_or_create
from stratos.common.lifecycle import cancel_and_wait, run_service
from stratos.common.logging import configure_logging, get_logger
from stratos.common.natsutil import connect, publish
from stratos.common.tracing import setup_tracing
from stratos.consensus.config import ConsensusSettings
from stratos.consensus.ledger.genesis import Genesis
from stratos.consensus.net.blocksync import BlockSync
from stratos.consensus.net.peers import Peers
from stratos.consensus.net.servicer import (
    CONSENSUS_SERVICE,
    VALIDATOR_SERVICE,
    ConsensusServicer,
    LongCalls,
    ValidatorServicer,
    block_response,
)
from stratos.consensus.node.runtime import Node
from stratos.consensus.node.store import Store
from stratos.v1 import consensus_pb2_grpc

SERVICE = "stratos-consensus"
BLOCK_SUBJECT = "stratos.chain.block"
log = get_logger(__name__)


def open_store(settings: ConsensusSettings) -> Store:
    """The block store, holding this genesis (written on first start)."""
    try:
        genesis = Genesis.load(settings.genesis_file)
    except InvalidArgument as err:
        raise ConfigError(f"STRATOS_GENESIS_FILE: {err}") from None
    try:
        store = Store(settings.data_dir / "chain.sqlite")
    except Exception as err:  # sqlite3 raises several types for an unusable path
        raise ConfigError(f"STRATOS_DATA_DIR: cannot open {settings.data_dir}: {err}") from None
    try:
        store.save_genesis(genesis.initial_state())
    except StratosError as err:
        store.close()
        raise ConfigError(f"STRATOS_DATA_DIR: {err}") from None
    return store


class NatsPublisher:
    """Publishes each committed block (a GetBlockResponse) on `stratos.chain.block`, best
    effort: consensus never waits for NATS, and a block committed while NATS is away is not
    re-sent (readers catch up with StreamBlocks)."""

    def __init__(self, url: str, node: Node) -> None:
        self.url, self.node, self.nc = url, node, None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            self.nc = await connect(self.url, name=SERVICE, connect_deadline_s=3600)
            log.info("nats_connected", url=self.url)
        except StratosError as err:
            log.warning("nats_unavailable", error=str(err))

    async def __call__(self, height: int) -> None:
        if self.nc is None or not self.nc.is_connected:
            return
        resp = block_response(self.node, height)
        if resp is not None:
            try:
                await publish(self.nc, BLOCK_SUBJECT, resp.SerializeToString())
            except Exception as err:  # nats raises several unrelated types
                log.warning("nats_publish_failed", height=height, error=str(err))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):  # its last error was logged where it happened
            await cancel_and_wait(self._task)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await (self.nc.drain() if self.nc.is_connected else self.nc.close())


async def _every(interval_s: float, fn) -> None:
    while True:
        await asyncio.sleep(interval_s)
        fn()


async def serve(stop: asyncio.Event) -> None:
    settings = load_settings(ConsensusSettings)
    configure_logging(SERVICE, settings.log_level)
    setup_tracing(SERVICE)
    identity = load_or_create(settings.key_path)
    store = open_store(settings)
    try:
        await _run(settings, identity, store, stop)
    finally:
        store.close()
    log.info("stopped")


async def _run(settings, identity, store: Store, stop: asyncio.Event) -> None:
    node = Node(settings, identity, store)
    own = {settings.grpc_address, settings.advertise_address}
    peers = Peers(tuple(p for p in settings.peer_list if p not in own), settings.peer_queue_size)
    node.broadcast, node.relay_tx, node.peers_connected = (
        peers.broadcast,
        peers.relay_tx,
        peers.connected,
    )
    node.peer_links = peers.links
    publisher = NatsPublisher(settings.nats_url, node) if settings.nats_url else None
    if publisher is not None:
        node.publish = publisher
        publisher.start()

    calls = LongCalls()

    def register(server) -> None:
        consensus_pb2_grpc.add_ConsensusServiceServicer_to_server(
            ConsensusServicer(node, calls), server
        )
        consensus_pb2_grpc.add_ValidatorServiceServicer_to_server(
            ValidatorServicer(node, calls), server
        )

    server = await start_server(
        settings.grpc_address, register, [CONSENSUS_SERVICE, VALIDATOR_SERVICE]
    )
    host = settings.grpc_address.rsplit(":", 1)[0]
    log.info(
        "grpc_listening",
        port=server.port,
        address=f"{host}:{server.port}",
        peers=[link.address for link in peers.links],
    )
    peers.start()
    sync = BlockSync(node, peers, settings.sync_interval_s)
    tasks = [
        asyncio.create_task(sync.run()),
        asyncio.create_task(_every(settings.gossip_interval_s, node.gossip)),
        asyncio.create_task(_watch_failure(node, stop)),
    ]
    node.start()
    await stop.wait()
    log.info("stopping", grace_s=settings.shutdown_grace_s, height=node.height)
    for t in tasks:
        t.cancel()
    calls.close()
    await server.stop(settings.shutdown_grace_s)
    await peers.stop()
    if publisher is not None:
        await publisher.stop()
    if node.failed is not None:
        raise StratosError(node.failed)


async def _watch_failure(node: Node, stop: asyncio.Event) -> None:
    while node.failed is None:
        await asyncio.sleep(0.5)
    stop.set()


def main() -> int:
    return run_service(serve)


if __name__ == "__main__":
    raise SystemExit(main())
