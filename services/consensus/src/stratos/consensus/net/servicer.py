"""The node's gRPC edges: `ConsensusService` (the ledger's public API) and `ValidatorService`
(validator-to-validator traffic). They only translate: decisions live in the ledger, the
mempool and the engine, and errors become gRPC statuses at `rpc_edge`."""

from __future__ import annotations

import asyncio
import contextlib

from stratos.common.errors import (
    AlreadyExists,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StratosError,
)
from stratos.common.grpcutil import rpc_edge
from stratos.common.logging import get_logger
from stratos.common.stos import is_tx_hash
from stratos.common.tls import peer_identity
from stratos.consensus.bft.messages import InvalidMessage
from stratos.consensus.bft.wire import from_proto
from stratos.consensus.ledger.apphash import app_hash
from stratos.consensus.ledger.epochs import epoch_status, node_message
from stratos.consensus.ledger.state import LedgerState
from stratos.consensus.ledger.tx import is_address, tx_hash
from stratos.consensus.net.blocksync import serve_blocks
from stratos.consensus.net.peers import RELAYED_METADATA
from stratos.consensus.node.runtime import Node
from stratos.consensus.node.store import Store
from stratos.consensus.node.tx_lookup import TxState, lookup_tx
from stratos.v1 import bft_pb2, consensus_pb2, consensus_pb2_grpc, ledger_pb2

log = get_logger(__name__)

CONSENSUS_SERVICE = "stratos.v1.ConsensusService"
VALIDATOR_SERVICE = "stratos.v1.ValidatorService"
DEFAULT_WAIT_MS = 10_000
MAX_WAIT_MS = 600_000


def block_response(store: Store, height: int) -> consensus_pb2.GetBlockResponse | None:
    block = store.get_block(height)
    if block is None:
        return None
    return consensus_pb2.GetBlockResponse(
        block=block,
        block_hash=store.get_block_hash(height),
        results=store.get_results(height),
        commit=bft_pb2.Commit.FromString(store.get_commit(height)),
    )


def _deposit(state: LedgerState, address: str) -> int:
    """A validator's self-bond in nstos at `state`, after any slashing."""
    val = state.validators.get(address)
    return val.deposit if val is not None else 0


class LongCalls:
    """Long-lived streams (peer pushes, block streams) never end on their own; at shutdown they
    are ended here, as a normal return, before the server's grace period runs out and gRPC
    cancels them with a logged traceback."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()
        self._closing: set[asyncio.Task] = set()
        self._closed = False

    @contextlib.contextmanager
    def track(self):
        task = asyncio.current_task()
        self._tasks.add(task)
        if self._closed:
            # A peer reconnected between close() and the server refusing new calls: end this
            # stream at its first await too, or the grace period would cancel it noisily.
            self._closing.add(task)
            task.cancel()
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._closing:
                raise
        finally:
            self._tasks.discard(task)

    def close(self) -> None:
        self._closed = True
        self._closing = set(self._tasks)
        for task in self._closing:
            task.cancel()


class ConsensusServicer(consensus_pb2_grpc.ConsensusServiceServicer):
    def __init__(self, node: Node, calls: LongCalls) -> None:
        self.node, self.calls = node, calls

    @rpc_edge
    async def SubmitTx(self, request, context):
        node, raw = self.node, request.tx
        h = tx_hash(raw)
        found = node.store.find_tx(h)
        if found is not None:  # submitted again after it committed: answer as before
            results = node.store.get_results(found[0])
            return consensus_pb2.SubmitTxResponse(
                tx_hash=h, height=found[0], result=results.results[found[1]]
            )
        relayed = RELAYED_METADATA in tuple(context.invocation_metadata() or ())
        try:
            node.admit_tx(raw, relay=not relayed)
        except AlreadyExists:
            if not request.wait_for_commit:
                raise
        if not request.wait_for_commit:
            return consensus_pb2.SubmitTxResponse(tx_hash=h)
        wait_ms = min(request.timeout_ms or DEFAULT_WAIT_MS, MAX_WAIT_MS)
        start_height = node.height
        fut = node.waiters.watch(h)
        try:
            height, result = await asyncio.wait_for(asyncio.shield(fut), wait_ms / 1000)
        except TimeoutError:
            why = (
                "no block has committed (are enough validators up?)"
                if node.height == start_height
                else f"blocks committed up to height {node.height} without it"
            )
            # The tx stays pending and may still commit: say so, so no caller reads "failed".
            raise DeadlineExceeded(
                f"the tx {h} is in the mempool but not committed within {wait_ms / 1000:g} s: "
                f"{why}; it may still commit (follow it with GetTx)"
            ) from None
        finally:
            node.waiters.forget(h, fut)
        return consensus_pb2.SubmitTxResponse(tx_hash=h, height=height, result=result)

    @rpc_edge
    async def SubmitTxs(self, requests, context):
        """One answer per tx, in order; a refusal is an answer, not the end of the stream (a
        bug ends it with INTERNAL and a sentence, at `rpc_edge`)."""
        async for request in requests:
            raw = request.tx
            h = tx_hash(raw)
            try:
                if self.node.store.find_tx(h) is None:
                    self.node.admit_tx(raw, relay=True)
            except StratosError as err:
                yield consensus_pb2.SubmitTxsResponse(
                    tx_hash=h, code=err.grpc_code.value[0], error=err.message
                )
                continue
            yield consensus_pb2.SubmitTxsResponse(tx_hash=h)

    @rpc_edge
    async def GetAccount(self, request, context):
        if not is_address(request.address):
            raise InvalidArgument(
                f"{request.address!r} is not an address (40 lowercase hex characters)"
            )
        state = self.node.state
        acct = state.account(request.address)
        msg = ledger_pb2.Account(address=request.address)
        if acct is not None:
            msg.balance, msg.nonce, msg.ozone = acct.balance, acct.nonce, acct.ozone
        resp = consensus_pb2.GetAccountResponse(
            account=msg,
            height=state.height,
            pending_nonce=self.node.mempool.next_nonce(request.address),
        )
        node = state.nodes.get(request.address)
        if node is not None:
            resp.node.CopyFrom(node_message(request.address, node, state.params))
        return resp

    @rpc_edge
    async def GetTx(self, request, context):
        h, node = request.tx_hash, self.node
        if not is_tx_hash(h):
            raise InvalidArgument(f"{h!r} is not a tx hash (64 lowercase hex characters)")
        resp = lookup_tx(node.store, node.mempool, h, node.height)
        if resp.state != TxState.TX_STATE_PENDING or not request.wait_ms:
            return resp
        # Nothing awaited since the lookup: the tx cannot have committed in between.
        fut = node.waiters.watch(h)
        try:
            await asyncio.wait_for(asyncio.shield(fut), min(request.wait_ms, MAX_WAIT_MS) / 1000)
        except (TimeoutError, StratosError):
            pass  # still pending, or dropped: the lookup below says which
        finally:
            node.waiters.forget(h, fut)
        return lookup_tx(node.store, node.mempool, h, node.height)

    @rpc_edge
    async def GetBlock(self, request, context):
        latest = self.node.height
        height = request.height or latest
        if height == 0:
            raise NotFound("no block has committed yet")
        if height > latest:
            raise NotFound(f"block {height} is not committed yet; the latest is {latest}")
        resp = block_response(self.node.store, height)
        if resp is None:
            raise NotFound(f"block {height} is not in this node's store")
        return resp

    @rpc_edge
    async def Status(self, request, context):
        node = self.node
        st = node.state
        return consensus_pb2.StatusResponse(
            chain_id=st.chain_id,
            node_address=node.address if node.is_validator else "",
            height=st.height,
            app_hash=app_hash(st),
            last_block_hash=st.last_block_hash,
            last_block_time_unix_ms=st.time_unix_ms,
            round=max(node.engine.round, 0),
            peers_connected=node.peers_connected(),
            validators=[
                consensus_pb2.ValidatorInfo(
                    address=v.address, power=v.power, deposit=_deposit(st, v.address)
                )
                for v in node.validators
            ],
            mempool_txs=len(node.mempool),
            epochs=epoch_status(st),
            ozone=consensus_pb2.OzonePool(
                deposits=st.pool.deposits, prepaid=st.pool.prepaid, limit=st.pool.limit
            ),
        )

    @rpc_edge
    async def StreamBlocks(self, request, context):
        node = self.node
        h = request.from_height or node.height + 1
        with self.calls.track():
            while True:
                while h > node.height:
                    await node.new_block.wait()
                resp = block_response(node.store, h)
                if resp is None:
                    raise NotFound(f"block {h} is not in this node's store")
                yield resp
                h += 1


VALIDATOR_ROLE = "consensus"  # the role a validator's mesh certificate names


def only_validators(context, method: str) -> None:
    """`ValidatorService` is the validators' own channel: every call must come over mutual TLS
    with a validator's certificate. Every message on it is signed by a validator key anyway (a
    forged vote is dropped), but a user's client certificate or a storage node's must not hold
    endless streams open on a validator or use the relay path into its mempool (users submit
    through `ConsensusService.SubmitTx`)."""
    peer = peer_identity(context)
    if peer is None or peer.role != VALIDATOR_ROLE:
        who = "no mesh certificate" if peer is None else f"a {peer.role} certificate"
        raise PermissionDenied(
            f"ValidatorService.{method} is for validators; the caller presented {who}"
        )


class ValidatorServicer(consensus_pb2_grpc.ValidatorServiceServicer):
    def __init__(self, node: Node, calls: LongCalls) -> None:
        self.node, self.calls = node, calls

    @rpc_edge
    async def Push(self, request_iterator, context):
        only_validators(context, "Push")
        with self.calls.track():
            async for m in request_iterator:
                try:
                    msg = from_proto(m)
                except InvalidMessage as err:
                    log.debug("peer_message_refused", reason=err.message)
                    continue
                self.node.on_message(msg)
        return consensus_pb2.PushAck()

    @rpc_edge
    async def RelayTxs(self, request, context):
        """Txs a peer admitted: each enters this mempool if it can (no relay onwards: the
        sender relays to every validator itself)."""
        only_validators(context, "RelayTxs")
        self.node.admit_relayed(request.txs)
        return consensus_pb2.RelayTxsResponse()

    @rpc_edge
    async def SyncBlocks(self, request, context):
        only_validators(context, "SyncBlocks")
        async for cb in serve_blocks(self.node.store, request.from_height, request.max_blocks):
            yield cb
