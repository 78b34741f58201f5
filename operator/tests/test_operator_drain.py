"""`IndexDrainer` against a real gRPC server speaking IndexService: DRAINING and DRAINED map to
the plan's states, and a refusal (FAILED_PRECONDITION) carries the index's own sentence."""

from __future__ import annotations

import grpc
import pytest

from stratos.common.errors import Unavailable
from stratos.common.identity import Identity
from stratos.common.procs import free_port
from stratos.common.testing_tls import channel_credentials, mesh_tls, server_credentials
from stratos.operator.drain import DrainState, IndexDrainer
from stratos.v1 import index_pb2, index_pb2_grpc

OPERATOR = channel_credentials("operator", "operator")
ADMIN = Identity.generate()


class Index(index_pb2_grpc.IndexServiceServicer):
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.cancelled: list[str] = []
        self.requests: list[index_pb2.DrainNodeRequest] = []

    async def DrainNode(self, request, context):
        self.requests.append(request)
        if request.cancel:
            self.cancelled.append(request.node_id)
            if request.node_id != "drained":
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, f"{request.node_id} is not being drained"
                )
            return index_pb2.DrainStatus(
                node_id=request.node_id, state=index_pb2.DRAIN_STATE_CANCELLED
            )
        n = self.calls[request.node_id] = self.calls.get(request.node_id, 0) + 1
        if request.node_id == "full":
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "cannot drain full: draining full would leave 2 live storage nodes, and file f "
                "needs 3 distinct nodes; add a node first or lower its redundancy",
            )
        state = index_pb2.DRAIN_STATE_DRAINING if n == 1 else index_pb2.DRAIN_STATE_DRAINED
        return index_pb2.DrainStatus(
            node_id=request.node_id, state=state, chunks_left=4 if n == 1 else 0, chunks_at_start=4
        )


@pytest.fixture
async def served():
    server = grpc.aio.server()
    index = Index()
    index_pb2_grpc.add_IndexServiceServicer_to_server(index, server)
    addr = f"127.0.0.1:{free_port()}"
    server.add_secure_port(addr, server_credentials("index", "index"))
    await server.start()
    yield addr, index
    await server.stop(0)


@pytest.fixture
def address(served):
    return served[0]


async def test_a_drain_is_draining_then_drained(address):
    drainer = IndexDrainer(address, OPERATOR, ADMIN)
    first = await drainer.drain("node-1")
    assert first.state is DrainState.DRAINING and "4 of 4 chunks left" in first.message
    assert (await drainer.drain("node-1")).state is DrainState.DRAINED


async def test_a_refusal_carries_the_index_sentence(address):
    report = await IndexDrainer(address, OPERATOR, ADMIN).drain("full")
    assert report.state is DrainState.REFUSED
    assert report.message.startswith("cannot drain full: draining full would leave 2 live")


async def test_an_unreachable_index_is_a_refusal_that_says_so():
    report = await IndexDrainer(f"127.0.0.1:{free_port()}", OPERATOR, ADMIN, timeout_s=1).drain(
        "node-1"
    )
    assert report.state is DrainState.REFUSED
    assert "could not be asked to drain node-1 (UNAVAILABLE" in report.message


async def test_undrain_cancels_a_drain_and_ignores_a_node_that_was_not_drained(served):
    addr, index = served
    drainer = IndexDrainer(addr, OPERATOR, ADMIN)
    await drainer.undrain("drained")
    await drainer.undrain("never-drained")  # FAILED_PRECONDITION: nothing to cancel, no error
    assert index.cancelled == ["drained", "never-drained"]


async def test_an_operator_without_a_certificate_from_the_mesh_ca_is_refused(address):
    stranger = grpc.ssl_channel_credentials(server_credentials_ca())
    report = await IndexDrainer(address, stranger, ADMIN, timeout_s=2).drain("node-1")
    assert report.state is DrainState.REFUSED and "UNAVAILABLE" in report.message


def server_credentials_ca() -> bytes:
    return mesh_tls("index", "index").ca_pem


async def test_undrain_with_the_index_away_raises_a_retryable_sentence():
    with pytest.raises(Unavailable, match="could not be asked to let node-1 take chunks again"):
        await IndexDrainer(f"127.0.0.1:{free_port()}", OPERATOR, ADMIN, timeout_s=1).undrain(
            "node-1"
        )


async def test_the_drainer_signs_starts_and_cancels_with_the_admin_key(served):
    """What the index checks (`AdminCheck`): both requests verify against the admin's public
    key. There is no unsigned drainer: the constructor needs the key."""
    from stratos.common.admin_auth import AdminCheck

    address, index = served
    drainer = IndexDrainer(address, OPERATOR, ADMIN)
    await drainer.drain("node-1")
    await drainer.undrain("drained")
    check = AdminCheck(ADMIN.public_bytes)
    for request in index.requests:
        check.check("DrainNode", request)
    assert [r.cancel for r in index.requests] == [False, True]
