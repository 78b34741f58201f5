"""Process entry point of a validator node: settings, logging, tracing, the validator key, the
genesis and the block store, the gRPC server, the peer links, block sync, NATS publishing
(optional) and the node with its ports — and a clean stop on SIGTERM.

`serve(stop, network=...)` lets a caller wrap the peer links before the node gets them; only
tests do (their entry point makes a validator equivocate or cuts it off)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from stratos.common import tls
from stratos.common.config import load_settings
from stratos.common.errors import ConfigError, InvalidArgument, StratosError
from stratos.common.grpcutil import serving, start_server
from stratos.common.identity import Identity, load_or_create
from stratos.common.lifecycle import (
    Component,
    background,
    cancel_and_wait,
    first_or_stop,
    run_service,
)
from stratos.common.logging import configure_logging, get_logger
from stratos.common.natsutil import NatsLogin, connect, publish
from stratos.common.tracing import setup_tracing
from stratos.consensus.bft.types import TimeoutConfig
from stratos.consensus.config import ConsensusSettings
from stratos.consensus.ledger.genesis import Genesis
from stratos.consensus.ledger.state import LedgerState
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
from stratos.consensus.node.evidence import SlashReporter
from stratos.consensus.node.ports import LoopTimers, Network
from stratos.consensus.node.runtime import Node, NodeConfig
from stratos.consensus.node.store import Store
from stratos.v1 import consensus_pb2_grpc

SERVICE = "stratos-consensus"
BLOCK_SUBJECT = "stratos.chain.block"
log = get_logger(__name__)

# Given the peer links, this node's key and its genesis-or-later state: the Network the node uses.
NetworkFactory = Callable[[Peers, Identity, LedgerState], Network]


def _peer_links(peers: Peers, _identity: Identity, _state: LedgerState) -> Network:
    return peers


def node_config(settings: ConsensusSettings) -> NodeConfig:
    return NodeConfig(
        timeouts=TimeoutConfig(
            propose=settings.timeout_propose_s,
            prevote=settings.timeout_prevote_s,
            precommit=settings.timeout_precommit_s,
            delta=settings.timeout_delta_s,
        ),
        propose_delay_s=settings.propose_delay_s,
        create_empty_blocks_interval_s=settings.create_empty_blocks_interval_s,
        max_block_txs=settings.max_block_txs,
        mempool_max_txs=settings.mempool_max_txs,
    )


def open_store(settings: ConsensusSettings) -> Store:
    """The block store, holding this genesis (written on first start)."""
    try:
        genesis = Genesis.load(settings.genesis_file)
    except InvalidArgument as err:
        raise ConfigError(f"STRATOS_GENESIS_FILE: {err}") from None
    try:
        store = Store(settings.data_dir / "chain.sqlite")
    except StratosError as err:  # a store of another format
        raise ConfigError(f"STRATOS_DATA_DIR: {err}") from None
    except Exception as err:  # sqlite3 raises several types for an unusable path
        raise ConfigError(f"STRATOS_DATA_DIR: cannot open {settings.data_dir}: {err}") from None
    try:
        store.save_genesis(genesis)
    except StratosError as err:
        store.close()
        raise ConfigError(f"STRATOS_DATA_DIR: {err}") from None
    return store


class NatsPublisher(Component):
    """Publishes each committed block (a GetBlockResponse) on `stratos.chain.block`, best
    effort: consensus never waits for NATS, and a block committed while NATS is away is not
    re-sent (readers catch up with StreamBlocks)."""

    def __init__(self, url: str, store: Store, login: NatsLogin | None = None) -> None:
        self.url, self.store, self.nc, self.login = url, store, None, login
        self._task: asyncio.Task | None = None
        self._publishing: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Connects in the background: a validator does not wait for NATS to start."""
        self._task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            self.nc = await connect(
                self.url, name=SERVICE, connect_deadline_s=3600, login=self.login
            )
            log.info("nats_connected", url=self.url)
        except StratosError as err:
            log.warning("nats_unavailable", error=str(err))

    def committed(self, height: int) -> None:
        """The node's `on_commit`: publish in the background, never holding consensus up."""
        task = asyncio.get_running_loop().create_task(self(height))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def __call__(self, height: int) -> None:
        if self.nc is None or not self.nc.is_connected:
            return
        resp = block_response(self.store, height)
        if resp is not None:
            try:
                await publish(self.nc, BLOCK_SUBJECT, resp.SerializeToString())
            except Exception as err:  # nats raises several unrelated types
                log.warning("nats_publish_failed", height=height, error=str(err))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):  # its last error was logged where it happened
            await cancel_and_wait(self._task, *self._publishing)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await (self.nc.drain() if self.nc.is_connected else self.nc.close())


async def _every(interval_s: float, fn) -> None:
    while True:
        await asyncio.sleep(interval_s)
        fn()


async def serve(
    stop: asyncio.Event,
    network: NetworkFactory = _peer_links,
    credentials: tls.Credentials | None = None,
) -> None:
    """The validator's parts as one `AsyncExitStack` (see `stratos.common.lifecycle`): entered
    in start order, closed in reverse — on SIGTERM, when a part fails to start, or when the node
    halts because it cannot commit a decided block (then the process exits 2 saying why).
    gRPC, the peer links included, is mutual TLS with the credentials the settings name
    (`credentials`: only a test passes them)."""
    settings = load_settings(ConsensusSettings)
    configure_logging(SERVICE, settings.log_level)
    setup_tracing(SERVICE)
    credentials = credentials or tls.from_settings(settings).credentials()
    identity = load_or_create(settings.key_path)
    async with contextlib.AsyncExitStack() as stack:
        store = open_store(settings)
        stack.callback(store.close)
        node = await _start(stack, settings, identity, store, network, credentials)
        await first_or_stop(node.halted.wait(), stop)
        log.info("stopping", grace_s=settings.shutdown_grace_s, height=node.height)
    log.info("stopped")
    if node.failed is not None:
        raise StratosError(node.failed)


async def _start(
    stack: contextlib.AsyncExitStack,
    settings: ConsensusSettings,
    identity: Identity,
    store: Store,
    network: NetworkFactory,
    credentials: tls.Credentials,
) -> Node:
    own = {settings.grpc_address, settings.advertise_address}
    peers = Peers(
        tuple(p for p in settings.peer_list if p not in own),
        settings.peer_queue_size,
        credentials.channel,
    )
    publisher = None
    if settings.nats_url:
        publisher = await stack.enter_async_context(
            NatsPublisher(settings.nats_url, store, settings.nats_login())
        )
    node = Node(
        node_config(settings),
        identity,
        store,
        network=network(peers, identity, store.load_state()),
        timers=LoopTimers(),
        evidence=SlashReporter(identity),
        on_commit=publisher.committed if publisher is not None else None,
    )
    calls = LongCalls()

    def register(server) -> None:
        consensus_pb2_grpc.add_ConsensusServiceServicer_to_server(
            ConsensusServicer(node, calls), server
        )
        consensus_pb2_grpc.add_ValidatorServiceServicer_to_server(
            ValidatorServicer(node, calls), server
        )

    server = await stack.enter_async_context(
        serving(
            start_server(
                settings.grpc_address,
                register,
                [CONSENSUS_SERVICE, VALIDATOR_SERVICE],
                credentials=credentials.server,
                health_address=settings.health_address,
            ),
            grace_s=settings.shutdown_grace_s,
        )
    )
    # Closed before the server stops: its endless streams end as a normal return, not as
    # calls cancelled by the grace period with a logged traceback.
    stack.callback(calls.close)
    host = settings.grpc_address.rsplit(":", 1)[0]
    log.info(
        "grpc_listening",
        port=server.port,
        address=f"{host}:{server.port}",
        peers=[link.address for link in peers.links],
    )
    await stack.enter_async_context(peers)
    sync = BlockSync(node, peers, settings.sync_interval_s)
    await stack.enter_async_context(background(sync.run(), name="block_sync"))
    await stack.enter_async_context(
        background(_every(settings.gossip_interval_s, node.gossip), name="gossip")
    )
    node.start()
    return node


def main() -> int:
    return run_service(serve)


if __name__ == "__main__":
    raise SystemExit(main())
