"""MeshClient against a real mesh on loopback: nats-server, one index, four storage nodes.

Covers the data path end to end: byte-identical round trips at segment boundaries, refusal
before any byte moves, reads that survive corrupt or dead replicas, clean failure sentences, and a
node SIGKILLed in the middle of a put.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from stratos.common.errors import (
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    StratosError,
)
from stratos.common.identity import Identity
from stratos.common.procs import env_with, free_port, wait_until
from stratos.common.testing import NatsProcess, TrustedMesh, nats_server, trusted_mesh
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.sdk import transfer
from stratos.sdk.capability import parse_capability
from stratos.sdk.client import MeshClient
from stratos.v1 import index_pb2, index_pb2_grpc, storage_pb2, storage_pb2_grpc, types_pb2

pytestmark = pytest.mark.integration

SEG = 64 * 1024


@dataclass
class StorageNode:
    node_id: str
    address: str
    data_dir: Path
    proc: subprocess.Popen

    def chunk_path(self, chunk_id: str) -> Path:
        found = list((self.data_dir / "chunks").rglob(chunk_id))
        assert found, f"{self.node_id} holds no file for chunk {chunk_id}"
        return found[0]


@dataclass
class Mesh:
    root: Path
    nats: NatsProcess
    trust: TrustedMesh
    index_address: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)
    nodes: dict[str, StorageNode] = field(default_factory=dict)

    def _spawn(self, name: str, module: str, **env: str) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env=env_with(STRATOS_NATS_URL=self.nats.url, STRATOS_LOG_LEVEL="warning", **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def start_index(self) -> None:
        self.index_address = f"127.0.0.1:{free_port()}"
        self._spawn(
            "index",
            "stratos.index",
            STRATOS_GRPC_ADDRESS=self.index_address,
            **cert_files("index", "index").env(),
            STRATOS_SUSPECT_AFTER_S="3",
            STRATOS_LOST_AFTER_S="10",
        )

    def start_storage(self, node_id: str, zone: str, capacity_bytes: int = 1 << 30) -> None:
        address = f"127.0.0.1:{free_port()}"
        data_dir = self.root / node_id
        self.trust.storage(node_id, data_dir)  # admitted, as the launcher does
        proc = self._spawn(
            node_id,
            "stratos.storage",
            STRATOS_GRPC_ADDRESS=address,
            **cert_files("storage", "storage").env(),
            STRATOS_NODE_ID=node_id,
            STRATOS_DATA_DIR=str(data_dir),
            STRATOS_CAPACITY_BYTES=str(capacity_bytes),
            STRATOS_ZONE=zone,
            STRATOS_HEARTBEAT_INTERVAL_S="0.5",
        )
        self.nodes[node_id] = StorageNode(node_id, address, data_dir, proc)

    def live_nodes(self) -> set[str]:
        with grpc.secure_channel(self.index_address, channel_credentials()) as ch:
            try:
                resp = index_pb2_grpc.IndexServiceStub(ch).ListNodes(
                    index_pb2.ListNodesRequest(), timeout=2
                )
            except grpc.RpcError:
                return set()
        return {n.info.node_id for n in resp.nodes if n.state == types_pb2.NODE_STATE_LIVE}

    def wait_live(self, expected: set[str]) -> None:
        for p in self.procs:
            assert p.poll() is None, f"a mesh process exited early; see the logs in {self.root}"
        wait_until(
            lambda: self.live_nodes() >= expected, timeout_s=30, what=f"{sorted(expected)} live"
        )

    def chunk_counts(self) -> dict[str, int]:
        counts = {}
        for node in self.nodes.values():
            if node.proc.poll() is not None:
                continue
            with grpc.secure_channel(node.address, channel_credentials()) as ch:
                resp = storage_pb2_grpc.StorageServiceStub(ch).Stat(
                    storage_pb2.StatRequest(), timeout=5
                )
            counts[node.node_id] = resp.chunk_count
        return counts

    def kill(self, node_id: str) -> None:
        proc = self.nodes[node_id].proc
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


@contextlib.contextmanager
def running_mesh(storage_nodes: int, capacity_bytes: int = 1 << 30) -> Iterator[Mesh]:
    with (
        tempfile.TemporaryDirectory(prefix="stratos-sdk-") as tmp,
        nats_server() as nats,
        trusted_mesh(Path(tmp) / "trust") as trust,
    ):
        mesh = Mesh(Path(tmp), nats, trust)
        try:
            mesh.start_index()
            for i in range(storage_nodes):
                mesh.start_storage(f"storage-{i}", f"zone-{'abc'[i % 3]}", capacity_bytes)
            mesh.wait_live(set(mesh.nodes))
            yield mesh
        finally:
            mesh.stop()


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    with running_mesh(4) as m:
        yield m


@pytest.fixture(scope="module")
def identity() -> Identity:
    return Identity.generate()


def _write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


@pytest.mark.parametrize(
    ("size", "segment_size"),
    [
        (0, SEG),
        (1, SEG),
        (SEG - 1, SEG),
        (SEG, SEG),
        (SEG + 1, SEG),
        (25 * SEG - 100, SEG),  # 25 segments, the last short
    ],
)
async def test_put_get_round_trip_is_byte_identical(
    mesh: Mesh, identity: Identity, tmp_path: Path, size: int, segment_size: int
) -> None:
    src = tmp_path / "in.bin"
    data = _write(src, size)
    put_progress: list[int] = []
    get_progress: list[int] = []
    async with MeshClient(
        [mesh.index_address], identity, parallelism=3, credentials=channel_credentials()
    ) as client:
        put = await client.put(
            src, replicas=3, segment_size=segment_size, on_progress=put_progress.append
        )
        assert (put.name, put.size, put.replicas) == ("in.bin", size, 3)
        assert put.segments == -(-size // segment_size)
        assert parse_capability(put.capability)[0] == put.file_id
        assert put.file_id in {f.file_id for f in await client.list_files()}

        out = tmp_path / "out.bin"
        got = await client.get(put.capability, out, on_progress=get_progress.append)
        assert (got.file_id, got.name, got.size, got.path) == (put.file_id, "in.bin", size, out)
        assert out.read_bytes() == data
        assert [p.name for p in tmp_path.iterdir()] == ["in.bin", "out.bin"]  # no part file

        st = await client.stat(put.file_id)
        assert st.summary.size == size and st.summary.owner_public_key == identity.public_bytes
        for seg, view in zip(st.manifest.segments, st.segments, strict=True):
            assert len(set(seg.node_ids)) == 3
            [piece] = view.pieces  # nothing moved since the put: held where it was written
            assert {h.node_id: h.state for h in piece.holders} == dict.fromkeys(
                seg.node_ids, "LIVE"
            )
    assert sum(put_progress) == size == sum(get_progress)


async def test_default_segment_size_comes_from_the_index(
    mesh: Mesh, identity: Identity, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    data = _write(src, 4 * 1024 * 1024 + 5)
    async with MeshClient(
        [mesh.index_address], identity, credentials=channel_credentials()
    ) as client:
        put = await client.put(src, replicas=2, name="renamed.bin")
        st = await client.stat(put.file_id, parse_capability(put.capability)[1])
        assert st.manifest.segment_size == 4 * 1024 * 1024 and put.segments == 2
        assert st.listed.name == "renamed.bin"
        assert (await client.stat(put.file_id)).listed.name is None  # sealed without the key
        await client.get(put.capability, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data


async def test_an_unreachable_index_address_fails_over_to_the_next(
    mesh: Mesh, identity: Identity, tmp_path: Path
) -> None:
    src = tmp_path / "f"
    data = _write(src, 1000)
    dead = f"127.0.0.1:{free_port()}"
    async with MeshClient(
        [dead, mesh.index_address], identity, credentials=channel_credentials()
    ) as client:
        put = await client.put(src, replicas=2)
        await client.get(put.capability, tmp_path / "g")
    assert (tmp_path / "g").read_bytes() == data


async def test_fewer_live_nodes_than_replicas_is_refused_before_any_byte_moves(
    mesh: Mesh, identity: Identity, tmp_path: Path
) -> None:
    src = tmp_path / "f"
    _write(src, 3 * SEG)
    before = mesh.chunk_counts()
    async with MeshClient(
        [mesh.index_address], identity, credentials=channel_credentials()
    ) as client:
        listed = len(await client.list_files())
        with pytest.raises(FailedPrecondition, match="4") as info:
            await client.put(src, replicas=5, segment_size=SEG)
        assert len(await client.list_files()) == listed
    assert "Traceback" not in str(info.value)
    assert mesh.chunk_counts() == before


async def test_a_small_file_is_two_index_calls_to_put_and_one_to_get(
    mesh: Mesh, identity: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plan and place together, commit; then the manifest, node states and tickets at once."""
    calls: list[str] = []
    real_call = transfer.IndexClient.call

    async def counted(self, method, request, **kwargs):
        calls.append(method)
        return await real_call(self, method, request, **kwargs)

    monkeypatch.setattr(transfer.IndexClient, "call", counted)
    src = tmp_path / "small.bin"
    data = _write(src, 64 * 1024)
    async with MeshClient(
        [mesh.index_address], identity, credentials=channel_credentials()
    ) as client:
        put = await client.put(src, replicas=3)
        assert calls == ["PlaceChunks", "CommitManifest"]
        calls.clear()
        await client.get(put.capability, tmp_path / "back.bin")
        assert calls == ["GetManifest"]
        before = mesh.chunk_counts()
        with pytest.raises(FailedPrecondition, match="only 4 storage nodes are live"):
            await client.put(src, replicas=5)  # the plan's refusal, before any byte moves
        assert mesh.chunk_counts() == before
    assert (tmp_path / "back.bin").read_bytes() == data


async def test_a_corrupt_replica_is_skipped_and_all_corrupt_is_data_loss(
    mesh: Mesh, identity: Identity, tmp_path: Path
) -> None:
    src = tmp_path / "f"
    data = _write(src, 3 * SEG + 17)
    async with MeshClient(
        [mesh.index_address], identity, credentials=channel_credentials()
    ) as client:
        put = await client.put(src, replicas=3, segment_size=SEG)
        st = await client.stat(put.file_id)
        seg = st.manifest.segments[1]
        holders = [mesh.nodes[n] for n in seg.node_ids]

        def corrupt(node: StorageNode) -> None:
            path = node.chunk_path(seg.chunk_id)
            raw = bytearray(path.read_bytes())
            raw[100] ^= 0xFF
            path.write_bytes(bytes(raw))

        corrupt(holders[0])
        await client.get(put.capability, tmp_path / "one")
        assert (tmp_path / "one").read_bytes() == data

        corrupt(holders[1])
        await client.get(put.capability, tmp_path / "two")
        assert (tmp_path / "two").read_bytes() == data

        corrupt(holders[2])
        out = tmp_path / "three"
        with pytest.raises(
            DataLoss,
            match=f"segment 1 of file {put.file_id} could not be read from any of its 3 nodes",
        ):
            await client.get(put.capability, out)
        assert not out.exists() and not list(tmp_path.glob(".*.part"))


async def test_bad_paths_are_refused_without_contacting_the_mesh(
    identity: Identity, tmp_path: Path
) -> None:
    unreachable = [f"127.0.0.1:{free_port()}"]
    async with MeshClient(unreachable, identity, credentials=channel_credentials()) as client:
        with pytest.raises(InvalidArgument, match=r"cannot read .*nope: no such file$"):
            await client.put(tmp_path / "nope")
        with pytest.raises(InvalidArgument, match="is a directory"):
            await client.put(tmp_path)
        if os.geteuid() != 0:
            locked = tmp_path / "locked"
            locked.write_bytes(b"x")
            locked.chmod(0)
            with pytest.raises(InvalidArgument, match="permission denied"):
                await client.put(locked)
        (tmp_path / "ok").write_bytes(b"x")
        for replicas in (0, -1, 65, 2**64):
            with pytest.raises(InvalidArgument, match="replicas must be between 1 and 64"):
                await client.put(tmp_path / "ok", replicas=replicas)
        with pytest.raises(InvalidArgument, match=r"between 64 KiB and 64 MiB, not 1 byte$"):
            await client.put(tmp_path / "ok", segment_size=1)
        (tmp_path / "sparse").write_bytes(b"")
        os.truncate(tmp_path / "sparse", 100 << 30)  # 100 GiB, no blocks
        with pytest.raises(InvalidArgument, match="needs 1638400 segments, but a manifest"):
            await client.put(tmp_path / "sparse", segment_size=SEG)


async def test_unknown_id_wrong_key_and_delete(
    mesh: Mesh, identity: Identity, tmp_path: Path
) -> None:
    src = tmp_path / "f"
    _write(src, 5000)
    async with MeshClient(
        [mesh.index_address], identity, credentials=channel_credentials()
    ) as client:
        unknown = "0" * 32
        cap = f"stratos://{unknown}#" + "A" * 43
        with pytest.raises(NotFound, match=f"^no file with ID {unknown}$"):
            await client.get(cap, tmp_path / "x")
        with pytest.raises(NotFound, match="no file with ID"):
            await client.stat(unknown)

        put = await client.put(src, replicas=2, segment_size=SEG)
        wrong = put.capability.split("#")[0] + "#" + "A" * 43
        # the name is opened first, so a wrong key stops before any segment is fetched
        with pytest.raises(DataLoss, match="cannot be read: the key is not this file's"):
            await client.get(wrong, tmp_path / "x")
        assert list(tmp_path.glob("x*")) == []

        await client.delete(put.file_id)
        assert put.file_id not in {f.file_id for f in await client.list_files()}
        with pytest.raises(NotFound, match="no file with ID"):
            await client.get(put.capability, tmp_path / "x")


async def test_list_nodes_reports_every_storage_node(mesh: Mesh, identity: Identity) -> None:
    async with MeshClient(
        [mesh.index_address], identity, credentials=channel_credentials()
    ) as client:
        nodes = await client.list_nodes()
    assert {n.info.node_id for n in nodes} >= set(mesh.nodes)


async def test_a_node_killed_mid_put_leaves_a_complete_file_or_nothing(
    identity: Identity, tmp_path: Path
) -> None:
    src = tmp_path / "f"
    data = _write(src, 48 * SEG)
    with running_mesh(4) as m:
        victim = "storage-1"
        killed: list[int] = []

        def progress(n: int) -> None:
            if not killed:
                m.kill(victim)
                killed.append(n)

        async with MeshClient(
            [m.index_address], identity, parallelism=2, credentials=channel_credentials()
        ) as client:
            try:
                put = await client.put(src, replicas=3, segment_size=SEG, on_progress=progress)
            except StratosError as err:
                assert "Traceback" not in str(err)
                assert await client.list_files() == []
                return
            assert killed
            st = await client.stat(put.file_id)
            late = st.manifest.segments[-1]
            assert victim not in late.node_ids and len(set(late.node_ids)) == 3
            assert [f.file_id for f in await client.list_files()] == [put.file_id]
            await client.get(put.capability, tmp_path / "back")
        assert (tmp_path / "back").read_bytes() == data
