"""A storage node process speaks only mutual TLS from the mesh CA: a stranger who does not hold a
certificate from it — one from another CA, none at all, or plaintext — gets no call through and
does no harm, while the node keeps serving the mesh and answering its probes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import trust_support

from stratos.common import mesh_ca
from stratos.common.grpcutil import channel, check_health
from stratos.common.hashing import chunk_id
from stratos.common.procs import async_wait_until, free_port
from stratos.common.testing import nats_server
from stratos.common.testing_tls import cert_files, channel_credentials, mesh_tls
from stratos.common.tls import MeshTLS
from stratos.v1 import storage_pb2, storage_pb2_grpc

pytestmark = [pytest.mark.integration, pytest.mark.attack]

NODE = "storage-1"


def bearer():
    """The admitted index's own ticket for NODE, in this test's mesh."""
    return trust_support.mesh().bearer(NODE)


def _stranger(tmp_path: Path, ca_pem: bytes) -> dict[str, grpc.ChannelCredentials]:
    """What a stranger can make: a CA and certificates of their own, and the mesh's public CA
    certificate (anyone may have it); and a user who holds the client certificate but does not
    trust the mesh's CA."""
    own_ca = mesh_ca.ensure_authority(tmp_path / "stranger")
    own = MeshTLS.from_cert_files(
        mesh_ca.ensure_certificate(tmp_path / "stranger", own_ca, "index", "index")
    )
    client = mesh_tls("client", "client")
    return {
        "a certificate from another CA": own.channel_credentials(),
        "no client certificate": grpc.ssl_channel_credentials(ca_pem),
        # a user's client certificate, but a client that trusts another CA than the mesh's:
        # it refuses the node's certificate (clients verify the server)
        "a client that does not trust the mesh CA": grpc.ssl_channel_credentials(
            own.ca_pem, client.key_pem, client.cert_pem
        ),
    }


async def _delete(address: str, creds: grpc.ChannelCredentials | None, cid: str):
    ch = channel(address, creds) if creds else grpc.aio.insecure_channel(address)
    async with ch:
        try:
            await storage_pb2_grpc.StorageServiceStub(ch).DeleteChunk(
                storage_pb2.DeleteChunkRequest(chunk_id=cid), timeout=10
            )
        except grpc.aio.AioRpcError as err:
            return err.code()
    return grpc.StatusCode.OK


async def _put(address: str, data: bytes) -> str:
    """PutChunk as the admitted index may (its own ticket for the node)."""
    cid = chunk_id(data)
    header = storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data))
    header.auth.CopyFrom(bearer().prove("PutChunk", NODE, cid, str(len(data))))
    reqs = [storage_pb2.PutChunkRequest(header=header), storage_pb2.PutChunkRequest(data=data)]
    async with channel(address, channel_credentials()) as ch:
        await storage_pb2_grpc.StorageServiceStub(ch).PutChunk(iter(reqs), timeout=30)
    return cid


async def _read(address: str, cid: str) -> bytes:
    async with channel(address, channel_credentials()) as ch:
        request = storage_pb2.GetChunkRequest(chunk_id=cid)
        request.auth.CopyFrom(bearer().prove("GetChunk", NODE, cid, "0", "0"))
        call = storage_pb2_grpc.StorageServiceStub(ch).GetChunk(request, timeout=30)
        return b"".join([m.data async for m in call])


def test_without_a_certificate_from_the_mesh_ca_no_call_gets_through(tmp_path: Path) -> None:
    address, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    files = cert_files("storage", "storage-1")
    with nats_server() as nats, (tmp_path / "log").open("wb") as log:
        env = {
            **os.environ,
            **files.env(),
            "STRATOS_NODE_ID": "storage-1",
            "STRATOS_DATA_DIR": str(tmp_path / "data"),
            "STRATOS_GRPC_ADDRESS": address,
            "STRATOS_HEALTH_ADDRESS": health,
            "STRATOS_NATS_URL": nats.url,
        }
        proc = subprocess.Popen([sys.executable, "-m", "stratos.storage"], env=env, stdout=log)
        try:

            async def attack() -> None:
                await async_wait_until(
                    lambda: check_health(address, channel_credentials(), timeout_s=1),
                    timeout_s=30,
                    what="storage-1 to serve",
                )
                data = os.urandom(100_000)
                cid = await _put(address, data)
                refused = {
                    why: await _delete(address, creds, cid)
                    for why, creds in _stranger(tmp_path, files.ca_file.read_bytes()).items()
                }
                refused["plaintext"] = await _delete(address, None, cid)
                assert refused == dict.fromkeys(refused, grpc.StatusCode.UNAVAILABLE)
                # no harm: the chunk is still there, and the node still serves and answers
                assert await _read(address, cid) == data
                assert await check_health(health, None)  # the probes' plaintext port
                assert await check_health(address, channel_credentials())

            asyncio.run(attack())
        finally:
            proc.terminate()
            proc.wait(15)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("STRATOS_TLS_CA_FILE", "", "STRATOS_TLS_CA_FILE is not set"),
        ("STRATOS_TLS_CERT_FILE", "/nonexistent/cert.pem", "cannot read /nonexistent/cert.pem"),
        ("STRATOS_TLS_KEY_FILE", "CERT", "is not the private key of"),
    ],
)
def test_a_missing_or_bad_certificate_file_stops_the_node_with_one_sentence(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    files = cert_files("storage", "storage-1")
    env = {**os.environ, **files.env(), "STRATOS_DATA_DIR": str(tmp_path / "data")}
    env[variable] = str(files.cert_file) if value == "CERT" else value
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.storage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
