"""Heartbeat contents and pacing, and the settings a node refuses to start with."""

from __future__ import annotations

import asyncio
import time

import pytest

from stratos.common.config import load_settings
from stratos.common.errors import ConfigError
from stratos.common.limits import GCM_TAG_BYTES, MAX_SEGMENT_BYTES
from stratos.common.natsutil import server_endpoints
from stratos.storage.chunkstore import StoreStat
from stratos.storage.config import StorageSettings, default_node_id
from stratos.storage.heartbeat import Heartbeater, NodeDescriptor, heartbeat_subject
from stratos.storage.main import advertise_address
from stratos.v1 import events_pb2

NODE = NodeDescriptor("node-h", "127.0.0.1:7000", "zone-b", b"k" * 32, "1.2.3")
STAT = StoreStat("node-h", capacity_bytes=1000, used_bytes=300, reserved_bytes=5, chunk_count=7)


async def test_first_heartbeat_goes_out_at_once_with_every_field() -> None:
    sent: list[tuple[str, bytes]] = []

    async def send(subject: str, payload: bytes) -> None:
        sent.append((subject, payload))

    stop = asyncio.Event()
    hb = Heartbeater(NODE, lambda: STAT, send, interval_s=60)
    task = asyncio.create_task(hb.run(stop))
    try:
        await asyncio.wait_for(_until(lambda: sent), 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)  # stop ends a 60 s wait at once
    subject, payload = sent[0]
    assert subject == "stratos.node.heartbeat.node-h"
    msg = events_pb2.Heartbeat.FromString(payload)
    info = msg.node
    assert (info.node_id, info.address, info.zone, info.version) == (
        "node-h",
        "127.0.0.1:7000",
        "zone-b",
        "1.2.3",
    )
    assert (info.capacity_bytes, info.used_bytes, info.public_key) == (1000, 300, b"k" * 32)
    assert msg.chunk_count == 7
    assert abs(msg.sent_unix_ms - time.time() * 1000) < 10_000


async def test_failed_sends_are_retried_and_never_stop_the_loop() -> None:
    attempts = 0

    async def flaky(subject: str, payload: bytes) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise ConnectionError("nats is down")

    stop = asyncio.Event()
    hb = Heartbeater(NODE, lambda: STAT, flaky, interval_s=0.1)
    task = asyncio.create_task(hb.run(stop))
    try:
        await asyncio.wait_for(_until(lambda: hb.sent >= 2), 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert attempts >= 4


async def test_poke_sends_without_waiting_for_the_interval() -> None:
    sent = 0

    async def send(subject: str, payload: bytes) -> None:
        nonlocal sent
        sent += 1

    stop = asyncio.Event()
    hb = Heartbeater(NODE, lambda: STAT, send, interval_s=60)
    task = asyncio.create_task(hb.run(stop))
    try:
        await asyncio.wait_for(_until(lambda: sent == 1), 5)
        hb.poke()
        await asyncio.wait_for(_until(lambda: sent == 2), 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


def test_heartbeat_subject() -> None:
    assert heartbeat_subject("storage-2") == "stratos.node.heartbeat.storage-2"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NODE_ID", "CAPACITY_BYTES", "ZONE", "HEARTBEAT_INTERVAL_S", "DATA_DIR"):
        monkeypatch.delenv(f"STRATOS_{var}", raising=False)
    s = load_settings(StorageSettings)
    assert s.capacity_bytes == 10 * 1024**3
    assert s.max_chunk_bytes == 64 * 1024**2 + 16
    assert (s.zone, s.heartbeat_interval_s, str(s.data_dir)) == ("zone-a", 2.0, "stratos-data")
    assert s.node_id == default_node_id()


def test_the_default_chunk_limit_holds_the_largest_segment_a_client_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client's largest segment (MAX_SEGMENT_BYTES) is stored with its GCM tag: a node that
    accepted only MAX_SEGMENT_BYTES refused every full 64 MiB segment mid-put."""
    monkeypatch.delenv("STRATOS_MAX_CHUNK_BYTES", raising=False)
    s = load_settings(StorageSettings)
    assert s.max_chunk_bytes >= MAX_SEGMENT_BYTES + GCM_TAG_BYTES


def test_default_node_id_is_a_valid_subject_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "node1.example.com")
    assert default_node_id() == "node1-example-com"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("STRATOS_NODE_ID", "a.b"),
        ("STRATOS_NODE_ID", "x" * 65),
        ("STRATOS_CAPACITY_BYTES", "1000"),
        ("STRATOS_CAPACITY_BYTES", "lots"),
        ("STRATOS_HEARTBEAT_INTERVAL_S", "0.01"),
        ("STRATOS_HEARTBEAT_INTERVAL_S", "61"),
    ],
)
def test_bad_values_name_their_variable(monkeypatch: pytest.MonkeyPatch, var, value) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=f"^invalid configuration: {var}: "):
        load_settings(StorageSettings)


def test_advertise_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "storage-0")
    assert advertise_address(StorageSettings(grpc_address="127.0.0.1:0"), 4242) == (
        "127.0.0.1:4242"
    )
    assert advertise_address(StorageSettings(grpc_address="0.0.0.0:7000"), 7000) == (
        "storage-0:7000"
    )
    explicit = StorageSettings(advertise_address="storage-0.storage:7000")
    assert advertise_address(explicit, 1) == "storage-0.storage:7000"


def test_nats_endpoints() -> None:
    assert server_endpoints("nats://127.0.0.1:4333, nats://u:p@nats:4222,tls://x") == [
        ("127.0.0.1", 4333),
        ("nats", 4222),
        ("x", 4222),
    ]
