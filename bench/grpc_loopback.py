"""Raw loopback gRPC streaming throughput between two processes: the bound for reading chunks.

A child process serves StorageService.GetChunk streaming 1 MiB pieces from memory (no disk, no
hashing); the parent reads `total` bytes. That is the most Python gRPC can move here — in
plaintext, or over mutual TLS from a throwaway mesh CA (`tls_dir`), which is what grpcio's own
TLS costs with no Stratos code at all: the reference for the mesh's TLS-on/off ratio."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import grpc

from stratos.common import mesh_ca
from stratos.common.memory import keep_buffers_in_heap
from stratos.common.procs import free_port, port_open, wait_until
from stratos.common.tls import MeshTLS
from stratos.v1 import storage_pb2, storage_pb2_grpc

MiB = 1 << 20


class _Source(storage_pb2_grpc.StorageServiceServicer):
    def __init__(self, piece: int) -> None:
        self.piece = b"\x5a" * piece

    async def GetChunk(self, request, context):
        left = request.length
        while left > 0:
            n = min(left, len(self.piece))
            yield storage_pb2.GetChunkResponse(data=self.piece[:n])
            left -= n


def _tls(tls_dir: str, role: str) -> MeshTLS:
    directory = Path(tls_dir)
    ca = mesh_ca.ensure_authority(directory)
    return MeshTLS.from_cert_files(mesh_ca.ensure_certificate(directory, ca, role, role))


async def _serve(port: int, piece: int, tls_dir: str | None) -> None:
    server = grpc.aio.server(
        options=[("grpc.max_send_message_length", 16 * MiB)],
    )
    storage_pb2_grpc.add_StorageServiceServicer_to_server(_Source(piece), server)
    if tls_dir:
        server.add_secure_port(f"127.0.0.1:{port}", _tls(tls_dir, "storage").server_credentials())
    else:
        server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def _read(port: int, total: int, tls_dir: str | None) -> float:
    target, options = f"127.0.0.1:{port}", [("grpc.max_receive_message_length", 16 * MiB)]
    ch = (
        grpc.aio.secure_channel(target, _tls(tls_dir, "client").channel_credentials(), options)
        if tls_dir
        else grpc.aio.insecure_channel(target, options=options)
    )
    async with ch:
        stub = storage_pb2_grpc.StorageServiceStub(ch)
        # warm up the connection first
        async for _ in stub.GetChunk(storage_pb2.GetChunkRequest(chunk_id="x", length=MiB)):
            pass
        start = time.perf_counter()
        got = 0
        async for msg in stub.GetChunk(storage_pb2.GetChunkRequest(chunk_id="x", length=total)):
            got += len(msg.data)
        elapsed = time.perf_counter() - start
    assert got == total
    return total / elapsed / 1e6


def streaming_throughput(
    total: int = 256 * MiB, piece: int = MiB, *, tuned: bool = False, tls_dir: Path | None = None
) -> float:
    """MB/s of one server-streaming call over loopback between two processes, in messages of
    `piece` bytes (use the piece size the storage node sends, so the bound is like for like).

    Both ends run in fresh processes: untuned, as Python gRPC comes (the issue's "raw" bound),
    or `tuned` with the allocator settings every Stratos process applies (stratos.common.memory),
    which by themselves roughly double this figure on a 2-core VM. With `tls_dir`, over mutual
    TLS with certificates from a CA made there."""
    port = free_port()
    flag = ["tuned" if tuned else "plain", str(tls_dir or "")]
    module = [sys.executable, "-m", "bench.grpc_loopback"]
    server = subprocess.Popen([*module, "serve", str(port), str(piece), *flag])
    try:
        wait_until(lambda: port_open("127.0.0.1", port), timeout_s=20, what="bench gRPC server")
        out = subprocess.run(
            [*module, "read", str(port), str(total), *flag],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return float(out.stdout.strip())
    finally:
        server.kill()
        server.wait(10)


def _child(argv: list[str]) -> None:
    mode, port, size, tuning, tls_dir = argv[0], int(argv[1]), int(argv[2]), argv[3], argv[4]
    if tuning == "tuned":
        keep_buffers_in_heap()
    if mode == "serve":
        asyncio.run(_serve(port, size, tls_dir or None))
    else:
        print(asyncio.run(_read(port, size, tls_dir or None)))


if __name__ == "__main__":
    _child(sys.argv[1:])
