"""`rpc_edge` maps the error tree to gRPC statuses at the edge, for every shape of RPC: each error
kind reaches a real client as its status code and its sentence, anything unexpected as INTERNAL
without a traceback, and a stream keeps the messages it sent before failing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from stratos.common import errors
from stratos.common.grpcutil import rpc_edge

SERVICE = "stratos.test.Edge"

# (the error a servicer raises, the status the client must see)
MAPPINGS = [
    (errors.InvalidArgument("the name is empty"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.TooLarge("page_size", 9, 5, holder="a page"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound("no file with ID abc"), grpc.StatusCode.NOT_FOUND),
    (errors.ChunkNotFound("c" * 64, "node-a"), grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists("the file exists"), grpc.StatusCode.ALREADY_EXISTS),
    (errors.PermissionDenied("not the owner"), grpc.StatusCode.PERMISSION_DENIED),
    (errors.FailedPrecondition("too few live nodes"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.DataLoss("the bytes do not match"), grpc.StatusCode.DATA_LOSS),
    (errors.ChunkCorrupt("c" * 64, "node-a"), grpc.StatusCode.DATA_LOSS),
    (errors.ResourceExhausted("the node is full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable("the index is starting"), grpc.StatusCode.UNAVAILABLE),
    (errors.Unreachable("127.0.0.1:1"), grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded("the upload went silent"), grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.ConfigError("STRATOS_X is bad", variables=["STRATOS_X"]), grpc.StatusCode.UNKNOWN),
    (errors.StratosError("something our own"), grpc.StatusCode.UNKNOWN),
]


class _Edge:
    """A servicer of every RPC shape; each sends one message, then raises `self.error`."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    @rpc_edge
    async def UnaryUnary(self, request: bytes, context) -> bytes:
        raise self.error

    @rpc_edge
    async def UnaryStream(self, request: bytes, context) -> AsyncIterator[bytes]:
        yield b"first"
        raise self.error

    @rpc_edge
    async def StreamUnary(self, requests: AsyncIterator[bytes], context) -> bytes:
        async for _ in requests:
            pass
        raise self.error

    @rpc_edge
    async def StreamStream(self, requests: AsyncIterator[bytes], context) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request
        raise self.error


async def _serve(servicer: _Edge) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    handlers = {
        "UnaryUnary": grpc.unary_unary_rpc_method_handler(servicer.UnaryUnary),
        "UnaryStream": grpc.unary_stream_rpc_method_handler(servicer.UnaryStream),
        "StreamUnary": grpc.stream_unary_rpc_method_handler(servicer.StreamUnary),
        "StreamStream": grpc.stream_stream_rpc_method_handler(servicer.StreamStream),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _every_shape(error: BaseException) -> dict[str, tuple[grpc.aio.AioRpcError, list]]:
    """Call each RPC shape once; what the client saw: the error and the messages before it."""
    server, port = await _serve(_Edge(error))
    seen: dict[str, tuple[grpc.aio.AioRpcError, list]] = {}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:

            async def requests() -> AsyncIterator[bytes]:
                yield b"echo"

            calls = {
                "UnaryUnary": lambda: ch.unary_unary(f"/{SERVICE}/UnaryUnary")(b"x"),
                "UnaryStream": lambda: ch.unary_stream(f"/{SERVICE}/UnaryStream")(b"x"),
                "StreamUnary": lambda: ch.stream_unary(f"/{SERVICE}/StreamUnary")(requests()),
                "StreamStream": lambda: ch.stream_stream(f"/{SERVICE}/StreamStream")(requests()),
            }
            for name, call in calls.items():
                got: list[bytes] = []
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    if name.endswith("Stream"):
                        async for msg in call():
                            got.append(msg)
                    else:
                        await call()
                seen[name] = (info.value, got)
    finally:
        await server.stop(None)
    return seen


@pytest.mark.parametrize(("error", "code"), MAPPINGS, ids=lambda v: type(v).__name__)
async def test_each_error_kind_reaches_the_client_as_its_status_and_sentence(error, code):
    seen = await _every_shape(error)
    for name, (rpc_error, _) in seen.items():
        assert (rpc_error.code(), rpc_error.details()) == (code, error.message), name
        # and back again on the client's side: the same kind, the same sentence
        back = errors.from_grpc(rpc_error)
        assert type(error).grpc_code == type(back).grpc_code, name
        assert back.retryable == error.retryable, name


async def test_a_stream_delivers_what_it_sent_before_the_error():
    seen = await _every_shape(errors.NotFound("chunk c is not stored on node-a"))
    assert seen["UnaryStream"][1] == [b"first"]
    assert seen["StreamStream"][1] == [b"echo"]


async def test_an_unexpected_exception_is_internal_with_one_sentence_and_no_traceback():
    seen = await _every_shape(KeyError("shard"))
    for name, (rpc_error, _) in seen.items():
        assert rpc_error.code() == grpc.StatusCode.INTERNAL, name
        assert rpc_error.details() == "internal error: 'shard'", name
        assert "Traceback" not in rpc_error.details(), name


class _OwnStatus(_Edge):
    """A method that ends the call itself with a status: rpc_edge must leave that status alone."""

    def __init__(self) -> None:
        super().__init__(RuntimeError("unused"))

    @rpc_edge
    async def UnaryUnary(self, request: bytes, context) -> bytes:
        await context.abort(grpc.StatusCode.OUT_OF_RANGE, "past the end")

    @rpc_edge
    async def UnaryStream(self, request: bytes, context) -> AsyncIterator[bytes]:
        yield b"first"
        await context.abort(grpc.StatusCode.OUT_OF_RANGE, "past the end")


async def test_a_status_the_method_sets_itself_passes_through():
    server, port = await _serve(_OwnStatus())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            with pytest.raises(grpc.aio.AioRpcError) as unary:
                await ch.unary_unary(f"/{SERVICE}/UnaryUnary")(b"x")
            got = []
            with pytest.raises(grpc.aio.AioRpcError) as stream:
                async for msg in ch.unary_stream(f"/{SERVICE}/UnaryStream")(b"x"):
                    got.append(msg)
    finally:
        await server.stop(None)
    for info in (unary, stream):
        assert (info.value.code(), info.value.details()) == (
            grpc.StatusCode.OUT_OF_RANGE,
            "past the end",
        )
    assert got == [b"first"]
