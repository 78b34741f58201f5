"""`stratos-storage` as an operator runs it: a real process next to a real nats-server that
speaks TLS only and admits the node as its own NATS user (`stratos.common.nats_roles`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trust_support

from stratos.common import identity, natsutil
from stratos.common.grpcutil import channel, check_health
from stratos.common.hashing import chunk_id
from stratos.common.nats_roles import Role
from stratos.common.procs import async_wait_until, free_port
from stratos.common.testing import NatsProcess, nats_server
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.v1 import events_pb2, storage_pb2, storage_pb2_grpc

pytestmark = pytest.mark.integration

SUBJECT = "stratos.node.heartbeat.proc-node"


@contextmanager
def storage_process(tmp_path: Path, ns: NatsProcess, **env: str) -> Iterator[tuple]:
    """A running stratos-storage; yields (process, gRPC address, data dir); always reaped."""
    port = free_port()
    data_dir = tmp_path / "data"
    full_env = {
        **os.environ,
        "STRATOS_NODE_ID": "proc-node",
        "STRATOS_ZONE": "zone-p",
        "STRATOS_DATA_DIR": str(data_dir),
        "STRATOS_CAPACITY_BYTES": str(64 * 1024 * 1024),
        "STRATOS_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "STRATOS_NATS_URL": ns.url,
        **ns.env(Role.STORAGE, "proc-node"),
        **cert_files("storage", "storage").env(),
        "STRATOS_HEARTBEAT_INTERVAL_S": "0.2",
        **env,
    }
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stratos.storage"], env=full_env, stdout=out, stderr=err
        )
        try:
            yield proc, f"127.0.0.1:{port}", data_dir
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


async def wait_healthy(proc: subprocess.Popen, address: str) -> None:
    async def healthy() -> bool:
        assert proc.poll() is None, "stratos-storage exited during start-up"
        return await check_health(address, channel_credentials(), timeout_s=1)

    await async_wait_until(healthy, timeout_s=30, what="stratos-storage to be healthy")


async def next_heartbeat(ns: NatsProcess, predicate=lambda hb: True) -> events_pb2.Heartbeat:
    nc = await natsutil.connect(ns.url, name="observer", login=ns.login())
    try:
        sub = await nc.subscribe(SUBJECT)
        async with asyncio.timeout(15):
            while True:
                msg = await sub.next_msg(timeout=15)
                hb = events_pb2.Heartbeat.FromString(msg.data)
                if predicate(hb):
                    return hb
    finally:
        await nc.close()


def stop_with_sigterm(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


async def test_node_heartbeats_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with nats_server(secure=True) as ns:
        await heartbeat_stream(ns)  # the index's to create
        with storage_process(tmp_path, ns) as (proc, address, data_dir):
            await serves_heartbeats_and_stops(tmp_path, ns, proc, address, data_dir)


async def heartbeat_stream(ns: NatsProcess) -> None:
    nc = await natsutil.connect(ns.url, name="index", login=ns.login(Role.INDEX))
    try:
        await natsutil.ensure_heartbeat_stream(nc.jetstream(), replicas=1)
    finally:
        await nc.close()


async def serves_heartbeats_and_stops(tmp_path, ns, proc, address, data_dir) -> None:
    await wait_healthy(proc, address)
    hb = await next_heartbeat(ns)
    ident = identity.load_or_create(data_dir / "identity.pem")
    node = hb.node
    assert (node.node_id, node.address, node.zone) == ("proc-node", address, "zone-p")
    assert (node.capacity_bytes, node.used_bytes, hb.chunk_count) == (64 * 1024 * 1024, 0, 0)
    assert node.public_key == ident.public_bytes
    assert node.version

    # The stream keeps each node's last heartbeat for an index that starts later.
    nc = await natsutil.connect(ns.url, name="late-index", login=ns.login(Role.INDEX))
    try:
        last = await nc.jetstream().get_last_msg("STRATOS_HEARTBEATS", SUBJECT)
        assert events_pb2.Heartbeat.FromString(last.data).node.node_id == "proc-node"
    finally:
        await nc.close()

    # Heartbeats report what the node stores.
    data = os.urandom(3 * 1024 * 1024)
    async with channel(address, channel_credentials()) as ch:
        stub = storage_pb2_grpc.StorageServiceStub(ch)
        cid = chunk_id(data)
        header = storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data))
        bearer = trust_support.mesh().bearer("proc-node")
        header.auth.CopyFrom(bearer.prove("PutChunk", "proc-node", cid, str(len(data))))
        await stub.PutChunk(
            iter(
                [
                    storage_pb2.PutChunkRequest(header=header),
                    storage_pb2.PutChunkRequest(data=data),
                ]
            )
        )
    hb = await next_heartbeat(ns, lambda hb: hb.chunk_count == 1)
    assert hb.node.used_bytes == len(data)

    assert stop_with_sigterm(proc) == 0
    logged = [json.loads(line) for line in (tmp_path / "stdout").read_text().splitlines()]
    listening = [e for e in logged if e["event"] == "grpc_listening"]
    assert listening and listening[0]["port"] == int(address.rsplit(":", 1)[1])
    assert "Traceback" not in (tmp_path / "stderr").read_text()


async def test_node_serves_while_nats_is_down_and_heartbeats_once_it_is_up(
    tmp_path: Path,
) -> None:
    with nats_server(secure=True) as ns:
        ns.env(Role.STORAGE, "proc-node")  # the node's user, made while the server can reload
        ns.kill()
        with storage_process(tmp_path, ns) as (proc, address, _):
            await wait_healthy(proc, address)
            async with channel(address, channel_credentials()) as ch:
                stat = await storage_pb2_grpc.StorageServiceStub(ch).Stat(storage_pb2.StatRequest())
            assert stat.node_id == "proc-node"

            ns.restart()
            hb = await next_heartbeat(ns)
            assert hb.node.node_id == "proc-node"
            assert stop_with_sigterm(proc) == 0


@pytest.mark.parametrize("value", ["lots", "1000"])
def test_bad_capacity_exits_2_with_one_sentence(tmp_path: Path, value: str) -> None:
    env = {**os.environ, "STRATOS_CAPACITY_BYTES": value, "STRATOS_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "stratos.storage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: invalid configuration: STRATOS_CAPACITY_BYTES: ")
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"STRATOS_ADMISSION_FILE": "/nonexistent/admission"}, "cannot read the admission list"),
        ({"STRATOS_ADMIN_KEY": "ab" * 32}, "not signed by this mesh's admin key"),
        ({"STRATOS_MESH_ID": "another"}, "is for the mesh 'test-mesh', not 'another'"),
        ({"STRATOS_ADMIN_KEY": ""}, "STRATOS_ADMIN_KEY: Field required"),
    ],
)
def test_a_node_that_cannot_tell_who_is_in_its_mesh_exits_2_with_one_sentence(
    tmp_path: Path, change: dict, says: str
) -> None:
    env = {**os.environ, "STRATOS_DATA_DIR": str(tmp_path), **change}
    done = subprocess.run(
        [sys.executable, "-m", "stratos.storage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert says in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
