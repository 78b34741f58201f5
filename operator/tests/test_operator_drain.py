"""`IndexDrainer` against a real gRPC server speaking IndexService: DRAINING and DRAINED map to
the plan's states, and a refusal (FAILED_PRECONDITION) carries the index's own sentence."""

from __future__ import annotations

import grpc
import pytest

from stratos.common.procs import free_port
from stratos.operator.drain import DrainState, IndexDrainer
from stratos.v1 import index_pb2, index_pb2_grpc


class Index(index_pb2_grpc.IndexServiceServicer):
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def DrainNode(self, request, context):
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
async def address():
    server = grpc.aio.server()
    index_pb2_grpc.add_IndexServiceServicer_to_server(Index(), server)
    addr = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(addr)
    await server.start()
    yield addr
    await server.stop(0)


async def test_a_drain_is_draining_then_drained(address):
    drainer = IndexDrainer(address)
    first = await drainer.drain("node-1")
    assert first.state is DrainState.DRAINING and "4 of 4 chunks left" in first.message
    assert (await drainer.drain("node-1")).state is DrainState.DRAINED


async def test_a_refusal_carries_the_index_sentence(address):
    report = await IndexDrainer(address).drain("full")
    assert report.state is DrainState.REFUSED
    assert report.message.startswith("cannot drain full: draining full would leave 2 live")


async def test_an_unreachable_index_is_a_refusal_that_says_so():
    report = await IndexDrainer(f"127.0.0.1:{free_port()}", timeout_s=1).drain("node-1")
    assert report.state is DrainState.REFUSED
    assert "could not be asked to drain node-1 (UNAVAILABLE" in report.message
