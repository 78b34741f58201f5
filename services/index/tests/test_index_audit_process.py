"""The issue's fault, end to end across real processes: a chunk altered on disk at one
`stratos-storage` node is caught by the audits of `python -m stratos.index`, reported on
stratos.audit.results, and repaired by the mesh (the node gets an intact copy back)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import index_support
import pytest
from index_support import SEGMENT, new_file_id, sealed_name, sign

from stratos.common import natsutil
from stratos.common.grpcutil import channel, check_health
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity
from stratos.common.procs import async_wait_until, env_with, free_port
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.index.audit_rules import CHUNK_CORRUPT
from stratos.index.locations import LocationStore
from stratos.index.manifests import ManifestStore, now_ms
from stratos.index.pieces import holders
from stratos.index.placement import rank
from stratos.index.registry import Candidate
from stratos.v1 import events_pb2, storage_pb2, storage_pb2_grpc, types_pb2

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
CAPACITY = 64 * MIB
NODES = ("p1", "p2", "p3")


@dataclass
class Proc:
    node_id: str
    address: str
    data_dir: Path
    proc: subprocess.Popen

    def chunk_path(self, cid: str) -> Path:
        return self.data_dir / "chunks" / cid[:2] / cid


@contextmanager
def spawn(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@contextmanager
def storage_nodes(nats_url: str, root: Path) -> Iterator[dict[str, Proc]]:
    with ExitStack() as stack:
        nodes = {}
        for node_id in NODES:
            address = f"127.0.0.1:{free_port()}"
            data_dir = root / node_id
            index_support.mesh().storage(node_id, data_dir)  # admitted, as the launcher does
            env = env_with(
                STRATOS_NODE_ID=node_id,
                STRATOS_DATA_DIR=str(data_dir),
                STRATOS_CAPACITY_BYTES=str(CAPACITY),
                STRATOS_GRPC_ADDRESS=address,
                **cert_files("storage", "storage").env(),
                STRATOS_NATS_URL=nats_url,
                STRATOS_HEARTBEAT_INTERVAL_S="0.5",
            )
            proc = stack.enter_context(
                spawn([sys.executable, "-m", "stratos.storage"], env, root / f"{node_id}.log")
            )
            nodes[node_id] = Proc(node_id, address, data_dir, proc)
        yield nodes


def bearer(node_id: str):
    """The admitted index's own ticket for `node_id`: the test writes and reads as it would."""
    return index_support.mesh().bearer(node_id)


async def put(node_id: str, address: str, cid: str, data: bytes) -> None:
    header = storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data))
    header.auth.CopyFrom(bearer(node_id).prove("PutChunk", node_id, cid, str(len(data))))
    reqs = [storage_pb2.PutChunkRequest(header=header)] + [
        storage_pb2.PutChunkRequest(data=data[i : i + MIB]) for i in range(0, len(data), MIB)
    ]
    async with channel(address, channel_credentials()) as ch:
        await storage_pb2_grpc.StorageServiceStub(ch).PutChunk(iter(reqs), timeout=30)


async def intact(node_id: str, address: str, cid: str) -> bool:
    """The node returns the whole chunk and it hashes to its ID."""
    request = storage_pb2.GetChunkRequest(chunk_id=cid)
    request.auth.CopyFrom(bearer(node_id).prove("GetChunk", node_id, cid, "0", "0"))
    async with channel(address, channel_credentials()) as ch:
        stub = storage_pb2_grpc.StorageServiceStub(ch)
        try:
            call = stub.GetChunk(request, timeout=10)
            data = b"".join([m.data async for m in call])
        except grpc.RpcError:
            return False
    return chunk_id(data) == cid


async def test_a_chunk_altered_on_disk_is_caught_by_an_audit_and_repaired(nats, tmp_path) -> None:
    data = os.urandom(3 * MIB + 16)
    cid = chunk_id(data)
    # The two best-ranked nodes hold it, so the only repair is the one the audit causes.
    first, second = (
        c.node_id for c in rank(cid, [Candidate(n, "", "z1", CAPACITY) for n in NODES])[:2]
    )
    nc = await natsutil.connect(nats.url, name="test-audit-process", connect_deadline_s=10)
    results: list[events_pb2.AuditResult] = []

    async def collect(msg) -> None:
        results.append(events_pb2.AuditResult.FromString(msg.data))

    try:
        await nc.subscribe(natsutil.AUDIT_RESULT_SUBJECT, cb=collect)
        with storage_nodes(nats.url, tmp_path) as nodes:
            for n in nodes.values():
                await async_wait_until(
                    lambda a=n.address: check_health(a, channel_credentials(), timeout_s=1),
                    timeout_s=30,
                    what=f"{n.node_id} to be healthy",
                )
            for n in (first, second):
                await put(n, nodes[n].address, cid, data)
            plain = len(data) - 16
            file_id = new_file_id()
            manifest = types_pb2.Manifest(
                file_id=file_id,
                metadata=sealed_name(file_id, "altered.bin"),
                size=plain,
                segment_size=max(plain, SEGMENT),  # one segment, maybe shorter than a full one
                replicas=2,
                cipher=types_pb2.CIPHER_AES_256_GCM,
                created_unix_ms=now_ms(),
                segments=[
                    types_pb2.Segment(
                        index=0,
                        chunk_id=cid,
                        plain_size=plain,
                        stored_size=len(data),
                        node_ids=[first, second],
                    )
                ],
            )
            await (await ManifestStore.open(nc.jetstream(), replicas=1)).commit(
                sign(Identity.generate(), manifest)
            )
            index_env = env_with(
                STRATOS_NATS_URL=nats.url,
                STRATOS_GRPC_ADDRESS=f"127.0.0.1:{free_port()}",
                **cert_files("index", "index").env(),
                STRATOS_REPAIR_INTERVAL_S="0.3",
                STRATOS_AUDIT_INTERVAL_S="0.3",
                STRATOS_AUDITS_PER_ROUND="4",
            )
            with spawn([sys.executable, "-m", "stratos.index"], index_env, tmp_path / "index.log"):
                await async_wait_until(
                    lambda: _any(results, lambda r: r.passed and r.node_id == first),
                    timeout_s=30,
                    what=f"an audit of {first} to pass",
                )
                # One bit flipped in place behind the node's back, as a failing disk would.
                # (Rewriting the file truncates it first: an audit reading it then sees a chunk
                # that shrank, and fails without quarantining anything.)
                flip_bit(nodes[first].chunk_path(cid))

                failed = await async_wait_until(
                    lambda: _any(results, lambda r: not r.passed and r.node_id == first),
                    timeout_s=30,
                    what=f"a failed audit of {first}",
                )
                assert failed.reason == CHUNK_CORRUPT and failed.chunk_id == cid
                assert list((nodes[first].data_dir / "quarantine").iterdir())

                store = await LocationStore.open(nc.jetstream(), replicas=1)

                async def repaired() -> bool:
                    where = holders(manifest, await store.get(manifest.file_id))[cid]
                    return sorted(where) == sorted([first, second]) and all(
                        [await intact(n, nodes[n].address, cid) for n in where]
                    )

                await async_wait_until(repaired, timeout_s=60, what="the altered copy repaired")
                await async_wait_until(
                    lambda: _any(
                        results[results.index(failed) :],
                        lambda r: r.passed and r.node_id == first,
                    ),
                    timeout_s=30,
                    what=f"{first} to pass its audits again",
                )
    finally:
        await nc.close()


def flip_bit(path: Path) -> None:
    with path.open("r+b") as f:
        at = path.stat().st_size // 3
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 0x01]))


async def _any(results: list[events_pb2.AuditResult], pred) -> events_pb2.AuditResult | None:
    return next((r for r in results if pred(r)), None)
