"""Asking the index to drain a storage node (move every chunk it holds to other nodes) before
the operator removes it.

The operator depends only on the small `Drainer` interface, so the scale-down logic is tested
with an in-memory drainer; `IndexDrainer` is the real one, over `IndexService.DrainNode`. That
RPC is idempotent: the first call starts the drain (or refuses it with FAILED_PRECONDITION when
the other nodes could not keep every file's redundancy), later calls report its progress.

A drained node stays drained in the index until the drain is cancelled
(`DrainNode(cancel=true)`): an ordinal scaled away and later scaled back keeps its old node ID,
so the operator cancels the drains of the ordinals a scale-up brings back (`undrain`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import grpc

from stratos.common.admin_auth import sign_request
from stratos.common.errors import Unavailable
from stratos.common.identity import Identity
from stratos.v1 import index_pb2, index_pb2_grpc


class DrainState(enum.Enum):
    DRAINING = "draining"  # started or in progress; ask again later
    DRAINED = "drained"  # the node holds nothing the mesh needs: it may go
    REFUSED = "refused"  # draining would break redundancy, or the index cannot drain at all


@dataclass(frozen=True)
class DrainReport:
    state: DrainState
    message: str = ""


class Drainer(Protocol):
    async def drain(self, node_id: str) -> DrainReport:
        """Start draining `node_id` or report how far it got (idempotent)."""
        ...

    async def undrain(self, node_id: str) -> None:
        """Let `node_id` take chunks again (nothing to do when it was not drained)."""
        ...


def report_of(status: index_pb2.DrainStatus) -> DrainReport:
    """The index's answer as the scale-down plan reads it (pure)."""
    if status.state == index_pb2.DRAIN_STATE_DRAINED:
        return DrainReport(DrainState.DRAINED, f"{status.node_id} holds no chunk the mesh needs")
    left = f"{status.chunks_left} of {status.chunks_at_start} chunks left"
    return DrainReport(DrainState.DRAINING, f"{status.node_id}: {left}")


class IndexDrainer:
    """Drains through the index's gRPC API at `address` (host:port), over mutual TLS with the
    operator's certificate (`credentials`), signing every request with the cluster's admin key
    (`stratos.operator.identities`): draining is an admin action."""

    def __init__(
        self,
        address: str,
        credentials: grpc.ChannelCredentials,
        admin: Identity,
        timeout_s: float = 10.0,
    ) -> None:
        self.address = address
        self.credentials = credentials
        self.admin = admin
        self.timeout_s = timeout_s

    def _signed(self, request: index_pb2.DrainNodeRequest) -> index_pb2.DrainNodeRequest:
        request.admin.CopyFrom(sign_request(self.admin, "DrainNode", request))
        return request

    async def drain(self, node_id: str) -> DrainReport:
        async with grpc.aio.secure_channel(self.address, self.credentials) as channel:
            stub = index_pb2_grpc.IndexServiceStub(channel)
            try:
                status = await stub.DrainNode(
                    self._signed(index_pb2.DrainNodeRequest(node_id=node_id)),
                    timeout=self.timeout_s,
                )
            except grpc.aio.AioRpcError as err:
                return _refusal(err, self.address, node_id)
        return report_of(status)

    async def undrain(self, node_id: str) -> None:
        async with grpc.aio.secure_channel(self.address, self.credentials) as channel:
            stub = index_pb2_grpc.IndexServiceStub(channel)
            try:
                await stub.DrainNode(
                    self._signed(index_pb2.DrainNodeRequest(node_id=node_id, cancel=True)),
                    timeout=self.timeout_s,
                )
            except grpc.aio.AioRpcError as err:
                # FAILED_PRECONDITION: it was not being drained, the usual case. Anything else
                # is retried by the next reconcile pass.
                if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise Unavailable(
                        f"the index at {self.address} could not be asked to let {node_id} take "
                        f"chunks again ({err.code().name}: {err.details()})"
                    ) from None


def _refusal(err: grpc.aio.AioRpcError, address: str, node_id: str) -> DrainReport:
    """Any error is a refusal (the node stays; nothing else waits on it), carrying the index's
    own sentence when it refused, or why it could not be asked."""
    if err.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
        return DrainReport(DrainState.REFUSED, err.details() or f"the index refused {node_id}")
    return DrainReport(
        DrainState.REFUSED,
        f"the index at {address} could not be asked to drain {node_id} "
        f"({err.code().name}: {err.details()})",
    )
