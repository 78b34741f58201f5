"""A worker fetching a job's module and inputs from a real local mesh (nats-server, index, four
storage nodes as processes): with the keys sealed to it, on tickets the job's payer pays, from
its own node first — all of it when its node holds the input, the rest from others when not —
and nothing for a job whose keys were sealed to another executor."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos.common.errors import PermissionDenied
from stratos.common.identity import Identity, load_or_create
from stratos.compute.inputs import fetch
from stratos.compute.placement import Chunk, choose, held_bytes
from stratos.sdk.client import MeshClient
from stratos.sdk.home import Home
from stratos.sdk.jobs import make_job
from stratos.sdk.meshtls import local_client_tls

pytestmark = pytest.mark.integration

MiB = 1 << 20
NODES = [f"storage-{i}" for i in range(1, 5)]


def dev(home: Path, *args: str) -> None:
    env = {**os.environ, "STRATOS_HOME": str(home)}
    env.pop("STRATOS_INDEX_ADDRESS", None)
    stratos = Path(sys.executable).parent / "stratos"
    proc = subprocess.run(
        [str(stratos), "dev", *args], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[Home]:
    """A local mesh of four storage nodes and no ledger, started as a user would."""
    root = tmp_path_factory.mktemp("compute-inputs") / "home"
    dev(root, "up", "--storage-nodes", "4", "--validators", "0", "--capacity", "1GiB")
    try:
        yield Home(root)
    finally:
        dev(root, "down")


def node_key(home: Home, name: str) -> Identity:
    return load_or_create(home.run_dir / name / "identity.pem")


def client(home: Home, identity: Identity) -> MeshClient:
    creds = local_client_tls(home).channel_credentials()
    return MeshClient(home.index_addresses(), identity, credentials=creds, payer=identity)


async def stored(home: Home, tmp: Path) -> dict:
    """The user's module and a 5 MiB input (3 copies on 4 nodes), and where the input is."""
    user = home.identity()
    module = b"\0asm\x01\0\0\0" + os.urandom(1000)  # fetch does not run it
    data = os.urandom(5 * MiB + 7)
    (tmp / "m.wasm").write_bytes(module)
    (tmp / "in.bin").write_bytes(data)
    async with client(home, user) as c:
        m = await c.put(tmp / "m.wasm", replicas=3)
        i = await c.put(tmp / "in.bin", replicas=3, segment_size=MiB)
        st = await c.stat(i.file_id)
    chunks = [
        Chunk(p.size, tuple(h.node_id for h in p.holders)) for s in st.segments for p in s.pieces
    ]
    return {"module": module, "data": data, "m": m, "i": i, "chunks": chunks}


def job_for(home: Home, put: dict, executors: list[str]) -> tuple:
    return make_job(
        home.identity(),
        module_capability=put["m"].capability,
        module_bytes=put["module"],
        input_capabilities=[put["i"].capability],
        executors={e: node_key(home, e).public_bytes for e in executors},
        fuel=10**9,
    )


def test_a_worker_reads_its_own_node_first_and_others_only_when_it_must(home, tmp_path) -> None:
    async def go() -> None:
        put = await stored(home, tmp_path)
        held = held_bytes(put["chunks"])
        total = sum(c.size for c in put["chunks"])
        near = choose(b"j", put["chunks"], NODES, 1)[0]  # holds the most of the input
        far = min(NODES, key=lambda n: held.get(n, 0))
        assert held.get(near, 0) > held.get(far, 0)
        signed, job = job_for(home, put, [near, far])
        for name in (near, far):
            work = tmp_path / name
            work.mkdir()
            async with client(home, node_key(home, name)) as c:
                got = await fetch(c, signed, job, node_key(home, name), name, work)
            assert got.module == put["module"]
            assert got.inputs[0].read_bytes() == put["data"]
            assert len(got.input_chunks) == 6 and all(len(c) == 64 for c in got.input_chunks)
            # every byte its own node holds was read there; only the rest came from others
            assert got.locality == held.get(name, 0) / total, name

    asyncio.run(go())


def test_a_worker_cannot_open_keys_sealed_to_another_executor(home, tmp_path) -> None:
    async def go() -> None:
        put = await stored(home, tmp_path)
        signed, job = job_for(home, put, ["storage-1"])
        # storage-2 forges its way in: it lists itself as an executor of a copy of the job
        # (the submitter's signature then fails at the index), or uses the job as it is
        (tmp_path / "w").mkdir()
        async with client(home, node_key(home, "storage-2")) as c:
            with pytest.raises(PermissionDenied, match="not an executor of this job"):
                await fetch(
                    c, signed, job, node_key(home, "storage-2"), "storage-2", tmp_path / "w"
                )
            job.executors.append("storage-2")
            with pytest.raises(PermissionDenied, match="has no key sealed to storage-2"):
                await fetch(
                    c, signed, job, node_key(home, "storage-2"), "storage-2", tmp_path / "w"
                )

    asyncio.run(go())
