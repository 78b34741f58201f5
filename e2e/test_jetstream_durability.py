"""What the mesh asks JetStream to keep, read back from the running servers: every server fsyncs
each write before acknowledging it, and every stream and KV bucket the index and the storage
nodes create is on file storage with one copy per NATS server up to three — so a committed
manifest survives a power cut of one host, and in a cluster the loss of a server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from nats.js.api import PersistMode, StorageType

from stratos.common.nats_credentials import NatsLogin, read_credentials
from stratos.common.natsutil import connect
from stratos.common.procs import async_wait_until, env_with, free_port
from stratos.common.testing import nats_cluster, trusted_mesh
from stratos.common.testing_tls import cert_files

# Every stream the index and a storage node create at start (KV buckets are streams "KV_<name>").
STREAMS = {
    "KV_STRATOS_MANIFESTS",
    "KV_STRATOS_LOCATIONS",
    "KV_STRATOS_DRAINS",
    "KV_STRATOS_RESERVATIONS",
    "STRATOS_HEARTBEATS",
    "STRATOS_REPAIR",
}


def varz(monitor_address: str) -> dict:
    with urllib.request.urlopen(f"http://{monitor_address}/varz", timeout=5) as resp:
        return json.load(resp)


async def streams_once_all_exist(url: str, login: NatsLogin | None = None) -> list:
    """stream info of every stream on the servers, once the expected ones all exist and each
    is held by as many servers as its config asks."""
    nc = await connect(url, name="durability-check", login=login)
    try:
        js = nc.jetstream()

        async def every_stream():
            infos = await js.streams_info()
            if {i.config.name for i in infos} >= STREAMS and all(map(settled, infos)):
                return infos
            return None

        return await async_wait_until(
            every_stream, timeout_s=60, interval_s=0.5, what=f"the streams {sorted(STREAMS)}"
        )
    finally:
        await nc.close()


def held_by(info) -> int:
    """Servers holding the stream now: its leader and its current followers."""
    cluster = info.cluster
    if not (cluster and cluster.leader):
        return 1 if info.config.num_replicas in (None, 1) else 0
    return 1 + sum(1 for r in cluster.replicas or [] if r.current)


def settled(info) -> bool:
    """A stream just created elects a leader and catches its followers up first."""
    return held_by(info) == (info.config.num_replicas or 1)


def assert_kept(info, copies: int) -> None:
    name = info.config.name
    assert info.config.storage == StorageType.FILE, name
    assert info.config.num_replicas == copies, name
    # an async persist mode acknowledges before the write is on disk, whatever the server says
    assert info.config.persist_mode in (None, PersistMode.DEFAULT), name
    assert held_by(info) == copies, f"{name} is held by {info.cluster}"


async def test_the_local_mesh_syncs_every_write_and_keeps_each_stream_on_file(mesh_factory):
    mesh = mesh_factory(1)
    records = json.loads((mesh.home / "run" / "mesh.json").read_text())["processes"]
    nats = next(r for r in records if r["kind"] == "nats")
    assert varz(nats["monitor_address"])["jetstream"]["config"].get("sync_always") is True
    auth = mesh.home / "run" / "nats-auth"  # the mesh owner's admin user
    ca = mesh.home / "run" / "tls" / "ca.pem"  # the mesh's one CA
    login = NatsLogin(read_credentials(auth / "users" / "admin.nk"), str(ca))
    for info in await streams_once_all_exist("nats://" + nats["address"], login):
        assert_kept(info, copies=1)


async def test_index_and_storage_keep_three_copies_of_every_stream_on_a_nats_cluster(tmp_path):
    with (
        nats_cluster(3) as servers,
        trusted_mesh(tmp_path / "trust") as trust,
        (tmp_path / "index.log").open("w") as index_log,
        (tmp_path / "storage.log").open("w") as storage_log,
    ):
        for s in servers:
            assert s.monitor("varz")["jetstream"]["config"].get("sync_always") is True
        url = ",".join(s.url for s in servers)
        common = {"STRATOS_NATS_URL": url, "STRATOS_NATS_REPLICAS": "3"}
        trust.storage("storage-1", tmp_path / "storage-1")
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "stratos.index"],
                env=env_with(
                    **common,
                    STRATOS_GRPC_ADDRESS=f"127.0.0.1:{free_port()}",
                    **cert_files("index", "index").env(),
                ),
                stdout=index_log,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "stratos.storage"],
                env=env_with(
                    **common,
                    STRATOS_GRPC_ADDRESS=f"127.0.0.1:{free_port()}",
                    **cert_files("storage", "storage").env(),
                    STRATOS_NODE_ID="storage-1",
                    STRATOS_DATA_DIR=str(tmp_path / "storage-1"),
                ),
                stdout=storage_log,
                stderr=subprocess.STDOUT,
            ),
        ]
        try:
            infos = await streams_once_all_exist(url)
        except TimeoutError:
            logs = {p: Path(p).read_text()[-2000:] for p in tmp_path.glob("*.log")}
            raise AssertionError(f"streams missing; logs: {logs}") from None
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        for info in infos:  # every stream there is, not only the ones named above
            assert_kept(info, copies=3)
