"""The gRPC edges against integers from strangers (issue 9): every method of the index, the
storage nodes and the validators, sent every integer field at the extremes its proto type allows,
answers with a status and a sentence — never INTERNAL — and a signed manifest whose numbers no
one can act on is refused at commit instead of breaking every later `stratos ls`."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys

import grpc
from blake3 import blake3
from google.protobuf.descriptor import FieldDescriptor

from stratos.common import tickets
from stratos.common.identity import Identity
from stratos.sdk.home import Home
from stratos.sdk.manifest import build_manifest, segment_record, sign_manifest
from stratos.sdk.meshtls import local_client_tls
from stratos.v1 import (
    consensus_pb2,
    consensus_pb2_grpc,
    index_pb2,
    index_pb2_grpc,
    storage_pb2,
    storage_pb2_grpc,
)

U32, U64, I64_MIN, I64_MAX = 2**32 - 1, 2**64 - 1, -(2**63), 2**63 - 1
EXTREMES = {
    FieldDescriptor.TYPE_UINT32: [U32, 0],
    FieldDescriptor.TYPE_UINT64: [U64, 2**63],
    FieldDescriptor.TYPE_INT64: [I64_MIN, I64_MAX],
    FieldDescriptor.TYPE_INT32: [-(2**31), 2**31 - 1],
    FieldDescriptor.TYPE_DOUBLE: [float("nan"), float("inf")],
}
# Every answer but these means the service coped: it named what was wrong, or had nothing to do.
CRASHED = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE}


def _text(field_name: str) -> str:
    """Strings that pass their own checks, so the integers are what the service judges."""
    if "chunk_id" in field_name:
        return "ab" * 32
    if "file_id" in field_name:
        return "cd" * 16
    if field_name == "address" or field_name == "to":
        return "ef" * 20
    return "no-such-node"  # node IDs: never a real node, so nothing is drained


def extreme(message, variant: int, depth: int = 0):
    """`message` with every integer field (nested ones too) at extreme number `variant`."""
    for f in message.DESCRIPTOR.fields:
        field = getattr(message, f.name)
        if f.type in EXTREMES:
            value = EXTREMES[f.type][variant]
            field.append(value) if f.is_repeated else setattr(message, f.name, value)
        elif f.type == FieldDescriptor.TYPE_STRING:
            text = _text(f.name)
            field.append(text) if f.is_repeated else setattr(message, f.name, text)
        elif f.type == FieldDescriptor.TYPE_MESSAGE and depth < 2:
            extreme(field.add() if f.is_repeated else field, variant, depth + 1)
    return message


async def sweep(address: str, credentials, stub_class, pb2, service: str) -> list[str]:
    """Call every method of `service` with extreme integers; the answers that were crashes."""
    crashes = []
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = stub_class(channel)
        for method in pb2.DESCRIPTOR.services_by_name[service].methods:
            request_class = getattr(pb2_module(method.input_type), method.input_type.name)
            for variant in (0, 1):
                request = extreme(request_class(), variant)
                code, details = await _call(getattr(stub, method.name), method, request)
                if code in CRASHED:
                    crashes.append(f"{service}.{method.name}[{variant}]: {code.name} {details}")
    return crashes


def pb2_module(descriptor):
    return sys.modules[descriptor.file.name.removesuffix(".proto").replace("/", ".") + "_pb2"]


async def _call(call, method, request) -> tuple[grpc.StatusCode, str]:
    async def one():
        yield request

    try:
        answer = call(one() if method.client_streaming else request, timeout=5)
        if method.server_streaming:
            async for _ in answer:
                break
            answer.cancel()
        else:
            await answer
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.CANCELLED:
            return grpc.StatusCode.OK, ""
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


async def put_chunk(addresses: dict[str, str], writer: Identity, credentials) -> tuple[str, str]:
    """One chunk stored the way any user may store one: placed by the index, which hands the
    writer a PUT ticket, then PutChunk under it. Returns the chunk ID and the node holding it."""
    data = os.urandom(1000)
    chunk_id = blake3(data).hexdigest()
    wanted = [(chunk_id, len(data))]
    async with grpc.aio.secure_channel(addresses["index"], credentials) as channel:
        placed = await index_pb2_grpc.IndexServiceStub(channel).PlaceChunks(
            index_pb2.PlaceChunksRequest(
                chunks=[index_pb2.ChunkToPlace(chunk_id=chunk_id, size=len(data))],
                replicas=1,
                ask=tickets.ask(writer, "PlaceChunks", tickets.place_subject(wanted)),
            ),
            timeout=30,
        )
    node = placed.placements[0].targets[0].node_id
    bearer = tickets.Bearer(writer, placed.tickets[0])

    async def parts():
        header = storage_pb2.PutChunkHeader(chunk_id=chunk_id, size=len(data))
        header.auth.CopyFrom(bearer.prove("PutChunk", node, chunk_id, str(len(data))))
        yield storage_pb2.PutChunkRequest(header=header)
        yield storage_pb2.PutChunkRequest(data=data)

    async with grpc.aio.secure_channel(addresses[node], credentials) as channel:
        await storage_pb2_grpc.StorageServiceStub(channel).PutChunk(parts(), timeout=30)
    return chunk_id, node


async def commit(
    address: str, credentials, owner: Identity, chunk_id: str, node: str, **fields: int
) -> tuple[grpc.StatusCode, str]:
    manifest = build_manifest(
        **{
            "file_id": secrets.token_hex(16),
            "name": "stranger",
            "key": secrets.token_bytes(32),
            "size": 1000,
            "segment_size": 64 * 1024,  # the smallest a manifest may declare
            "replicas": 1,
            "segments": [segment_record(0, chunk_id, 1000, [node])],
            **fields,
        }
    )
    request = index_pb2.CommitManifestRequest(signed=sign_manifest(manifest, owner))
    async with grpc.aio.secure_channel(address, credentials) as channel:
        try:
            await index_pb2_grpc.IndexServiceStub(channel).CommitManifest(request, timeout=30)
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def client_credentials(mesh) -> grpc.ChannelCredentials:
    """What any user of the mesh is given: its CA and the client role's certificate."""
    return local_client_tls(Home(mesh.home)).channel_credentials()


def addresses_of(mesh) -> dict[str, str]:
    doc = json.loads((mesh.home / "run" / "mesh.json").read_text())
    return {p["name"]: p["address"] for p in doc["processes"]}


def test_every_edge_answers_extreme_integers_with_a_status_not_a_crash(mesh_factory):
    mesh = mesh_factory(nodes=3)
    mesh.stratos("dev", "up", "--validators", "1", timeout=180, check=True)
    addresses = addresses_of(mesh)
    creds = client_credentials(mesh)

    async def all_edges() -> list[str]:
        return [
            *await sweep(
                addresses["index"],
                creds,
                index_pb2_grpc.IndexServiceStub,
                index_pb2,
                "IndexService",
            ),
            *await sweep(
                addresses["storage-1"],
                creds,
                storage_pb2_grpc.StorageServiceStub,
                storage_pb2,
                "StorageService",
            ),
            *await sweep(
                addresses["validator-1"],
                creds,
                consensus_pb2_grpc.ConsensusServiceStub,
                consensus_pb2,
                "ConsensusService",
            ),
            *await sweep(
                addresses["validator-1"],
                creds,
                consensus_pb2_grpc.ValidatorServiceStub,
                consensus_pb2,
                "ValidatorService",
            ),
        ]

    assert asyncio.run(all_edges()) == []
    assert mesh.stratos("dev", "status").returncode == 0  # every service still answers


def test_a_signed_manifest_with_numbers_no_one_can_act_on_is_refused(mesh_factory):
    mesh = mesh_factory(nodes=3)
    addresses = addresses_of(mesh)
    stranger = Identity.generate()
    creds = client_credentials(mesh)

    async def commits():
        chunk_id, node = await put_chunk(addresses, stranger, creds)
        cases = [
            ("created_unix_ms", I64_MAX),
            ("created_unix_ms", -1),
            ("expires_unix_ms", I64_MAX),
            ("replicas", U32),
        ]
        return [
            (
                field,
                await commit(addresses["index"], creds, stranger, chunk_id, node, **{field: value}),
            )
            for field, value in cases
        ]

    for field, (code, details) in asyncio.run(commits()):
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (field, code, details)
        assert field in details and "must be between" in details, details
    listing = mesh.stratos("ls")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr
