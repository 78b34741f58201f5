"""gRPC helpers: a server with the standard health service, reflection, OpenTelemetry and a
graceful stop (`serving` holds it for the life of a service's `serve()` stack); client channels
with matching limits; and the error mapping at the edge.

Servers and channels take their credentials from the caller (a service's `MeshTLS`,
`stratos.common.tls`): there is no plaintext default to fall back to, and a test that needs one
passes it in.

The server side's imports (health, reflection, structlog) are made inside its functions: the
`stratos` CLI opens client channels only and would otherwise pay ~0.5 s at every start."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import grpc

from stratos.common import tracing
from stratos.common.errors import StratosError
from stratos.common.limits import GRPC_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from grpc_health.v1 import health

MAX_MESSAGE_BYTES = GRPC_MAX_MESSAGE_BYTES
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
]


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    health_server: grpc.aio.Server | None = None
    health_port: int = 0

    async def stop(self, grace_s: float) -> None:
        """Mark not-serving, refuse new calls and give running ones `grace_s` to finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        if self.health_server is not None:
            await self.health_server.stop(None)


async def start_server(
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Iterable[str],
    *,
    credentials: grpc.ServerCredentials,
    health_address: str = "",
    options: Iterable[tuple[str, object]] = (),
) -> RunningServer:
    """Start a gRPC server on `address` with `credentials` (`MeshTLS.server_credentials()`),
    health and reflection for `service_names`. `options` are added to the mesh's channel options
    (they win on conflicts). With a `health_address`, the same health service is also served
    there in plaintext and alone, for Kubernetes' gRPC probes, which speak no TLS."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    merged = dict(CHANNEL_OPTIONS)
    merged.update(dict(options))
    server = grpc.aio.server(
        interceptors=tracing.grpc_server_interceptors(), options=list(merged.items())
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(service_names)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = _listen(server, address, "STRATOS_GRPC_ADDRESS", credentials)
    health_server, health_port = None, 0
    try:
        if health_address:
            health_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
            health_port = _listen(health_server, health_address, "STRATOS_HEALTH_ADDRESS", None)
            await health_server.start()
        await server.start()
        for name in ["", *names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    except BaseException:
        with contextlib.suppress(Exception):  # the failed start is the error to report
            await server.stop(None)
            if health_server is not None:
                await health_server.stop(None)
        raise
    return RunningServer(server, port, health_servicer, health_server, health_port)


def _listen(
    server: grpc.aio.Server,
    address: str,
    variable: str,
    credentials: grpc.ServerCredentials | None,
) -> int:
    """Bind `address` (plaintext only for the health-only server); the bound port."""
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:
        port = 0  # grpcio raises rather than returning 0 when the address cannot be bound
    if port == 0:
        raise StratosError(
            f"cannot listen on {address} ({variable}): the address is in use or not local"
        )
    return port


@contextlib.asynccontextmanager
async def serving(
    starting: Awaitable[RunningServer], *, grace_s: float
) -> AsyncIterator[RunningServer]:
    """The server `starting` brings up (`start_server`, or a service's wrapper of it), for the
    life of the block — a service's gRPC server as one component of its `serve()` stack
    (`stratos.common.lifecycle`); leaving stops it, giving running calls `grace_s`."""
    server = await starting
    try:
        yield server
    finally:
        await server.stop(grace_s)


def channel(
    address: str,
    credentials: grpc.ChannelCredentials,
    options: Iterable[tuple[str, object]] = (),
) -> grpc.aio.Channel:
    """An async client channel over `credentials` (`MeshTLS.channel_credentials()`) with
    tracing and the mesh's message limits.

    Only unary-request calls go through the OpenTelemetry client interceptors: with the
    stream-request interceptors a cancelled upload never reaches the server (measured with
    grpcio 1.85), which would pin a storage node's upload slot. Client-streaming calls pass
    `metadata=trace_metadata()` instead, which the server interceptor reads the same way.
    A process that records no spans gets no interceptors (`tracing.recording`). `options` are
    added to the mesh's (they win on conflicts)."""
    merged = dict(CHANNEL_OPTIONS)
    merged.update(dict(options))
    interceptors = [
        i
        for i in (tracing.grpc_client_interceptors() if tracing.recording() else [])
        if isinstance(
            i, grpc.aio.UnaryUnaryClientInterceptor | grpc.aio.UnaryStreamClientInterceptor
        )
    ]
    return grpc.aio.secure_channel(
        address, credentials, options=list(merged.items()), interceptors=interceptors
    )


def trace_metadata() -> list[tuple[str, str]]:
    """gRPC metadata carrying the current trace context, for client-streaming calls."""
    return list(tracing.inject_headers().items()) if tracing.recording() else []


def rpc_edge(fn):
    """Decorator for servicer methods, unary or streaming: a StratosError becomes its gRPC
    status and sentence; anything else is logged and becomes INTERNAL with a short sentence (no
    traceback leaks). A method that is an async generator (a server-streaming or
    bidirectional RPC) stays one, so messages already yielded reach the client before the
    status that ends the stream."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream_wrapper(self, request, context: grpc.aio.ServicerContext):
            try:
                # aclosing: a client that goes away closes the method's generator at once, so
                # what it holds (a file, a transfer slot) is released now, not at collection.
                async with contextlib.aclosing(fn(self, request, context)) as responses:
                    async for response in responses:
                        yield response
            except Exception as exc:
                await _abort(context, exc, fn.__name__)

        return stream_wrapper

    @functools.wraps(fn)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        try:
            return await fn(self, request, context)
        except Exception as exc:
            await _abort(context, exc, fn.__name__)

    return wrapper


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> NoReturn:
    if isinstance(exc, grpc.aio.AbortError):  # the method aborted with a status of its own
        raise exc
    if isinstance(exc, StratosError):
        await context.abort(exc.grpc_code, exc.message)
    from stratos.common.logging import get_logger

    get_logger(__name__).error("rpc_failed", method=method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {exc}")


async def check_health(
    address: str, credentials: grpc.ChannelCredentials | None, timeout_s: float = 2.0
) -> bool:
    """True when the server at `address` answers SERVING on the standard health service: over
    `credentials`, or in plaintext (None) on a health-only port (`start_server`'s
    `health_address`)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    ch = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    async with ch:
        stub = health_pb2_grpc.HealthStub(ch)
        try:
            resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return resp.status == health_pb2.HealthCheckResponse.SERVING
