"""What JetStream is told to keep, checked on real nats-servers: every server the project
configures fsyncs each write before acknowledging it, and every stream and KV bucket is created
with the replica count asked for — and an existing one is brought to it, so a mesh that grew
from one NATS server to a cluster does not keep its manifests on one disk."""

from __future__ import annotations

import re

import pytest
from nats.js.api import StorageType

from stratos.common.config import ServiceSettings, load_settings
from stratos.common.errors import ConfigError
from stratos.common.natsutil import (
    HEARTBEAT_STREAM,
    REPAIR_STREAM,
    connect,
    ensure_heartbeat_stream,
    ensure_kv,
    ensure_repair_stream,
)
from stratos.common.procs import nats_config
from stratos.common.testing import nats_cluster, nats_server


def jetstream_block(conf: str) -> str:
    match = re.search(r"^jetstream \{\n(.*?)^\}", conf, re.S | re.M)
    assert match, f"no jetstream block in:\n{conf}"
    return match.group(1)


def test_the_generated_nats_config_syncs_every_write_before_acknowledging(tmp_path) -> None:
    block = jetstream_block(nats_config(4222, 8222, tmp_path / "js"))
    assert re.search(r"^\s*sync_interval: always$", block, re.M), block


def test_the_replica_count_is_one_by_default_and_bounded_by_jetstream(monkeypatch) -> None:
    assert load_settings(ServiceSettings).nats_replicas == 1
    monkeypatch.setenv("STRATOS_NATS_REPLICAS", "3")
    assert load_settings(ServiceSettings).nats_replicas == 3
    for bad in ("0", "6", "three"):
        monkeypatch.setenv("STRATOS_NATS_REPLICAS", bad)
        with pytest.raises(ConfigError, match="STRATOS_NATS_REPLICAS"):
            load_settings(ServiceSettings)


@pytest.mark.integration
async def test_the_test_harness_server_runs_with_sync_always() -> None:
    with nats_server() as ns:
        assert ns.monitor("varz")["jetstream"]["config"].get("sync_always") is True


def _stream_replicas(info) -> int:
    """Servers that hold the stream: the leader and its replicas (1 on a single server)."""
    cluster = info.cluster
    return 1 + len(cluster.replicas or []) if cluster and cluster.leader else 1


@pytest.mark.integration
async def test_streams_and_buckets_are_replicated_across_a_cluster_and_grown_to_it() -> None:
    with nats_cluster(3) as servers:
        assert all(s.monitor("varz")["jetstream"]["config"].get("sync_always") for s in servers)
        nc = await connect(",".join(s.url for s in servers), name="replicas-test")
        try:
            js = nc.jetstream()
            await ensure_heartbeat_stream(js, replicas=1)  # as created by a one-server mesh
            await ensure_heartbeat_stream(js, replicas=3)
            await ensure_repair_stream(js, replicas=3)
            await ensure_kv(js, "FRESH", replicas=3)
            # a bucket made when the mesh had one NATS server, opened by a service told 3
            one = await ensure_kv(js, "GROWN", replicas=1)
            assert (await js.stream_info("KV_GROWN")).config.num_replicas == 1
            # one copy: reads are direct gets (no JSON, no base64), and read back what was put
            assert one._direct and (await js.stream_info("KV_GROWN")).config.allow_direct
            await one.put("k", b"one")
            assert (await one.get("k")).value == b"one"
            kv = await ensure_kv(js, "GROWN", replicas=3)
            await kv.put("k", b"v")  # still usable after the change
            # three copies: a follower's direct get may trail the leader, so reads go to it
            assert not kv._direct and (await kv.get("k")).value == b"v"
            for name in (HEARTBEAT_STREAM, REPAIR_STREAM, "KV_FRESH", "KV_GROWN"):
                info = await js.stream_info(name)
                assert info.config.num_replicas == 3, name
                assert info.config.storage == StorageType.FILE, name
                assert _stream_replicas(info) == 3, f"{name} is held by {info.cluster}"
                assert not info.config.allow_direct, name
        finally:
            await nc.close()
