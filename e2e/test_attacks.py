"""Attacks on a running local mesh by a stranger who can reach its NATS and its index port
(a compromised or misconfigured NATS account: here the mesh's admin user, which may publish
anything, so what is refused rests on signatures alone) but holds no node's or wallet's key.
Each one does no harm — the files still read back, the nodes are listed as they are — and is
refused: dropped and counted by the consumer (its log says so, once per reason and sender a
minute), or PERMISSION_DENIED with one sentence."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from e2e.conftest import Mesh, connect_nats_as_admin, random_file, start_mesh
from stratos.common.identity import Identity
from stratos.common.natsutil import (
    AUDIT_RESULT_SUBJECT,
    HEARTBEAT_SUBJECT,
    REPAIR_JOB_SUBJECT,
    REPAIR_RESULT_SUBJECT,
    REPAIR_STREAM,
)
from stratos.common.procs import wait_until
from stratos.common.signed import sign
from stratos.sdk.home import Home
from stratos.sdk.meshtls import local_client_tls
from stratos.v1 import events_pb2, index_pb2, index_pb2_grpc, repair_pb2, types_pb2

pytestmark = [pytest.mark.integration, pytest.mark.attack]

MiB = 1 << 20
TEN_YEARS_MS = 10 * 365 * 86_400_000
STRANGER = Identity.generate()  # the attacker's own key: admitted by no one


@pytest.fixture(scope="module")
def mesh(tmp_path_factory) -> Iterator[Mesh]:
    """One mesh for every attack (4 storage nodes, so a real drain could start)."""
    home = tmp_path_factory.mktemp("attacks") / "home"
    m = start_mesh(home, 4)
    try:
        yield m
    finally:
        m.stratos("dev", "down", timeout=60)


@pytest.fixture(scope="module")
def stored(mesh: Mesh, tmp_path_factory) -> dict:
    """A file the owner stored before the attacks: its put answer, bytes and stat."""
    src = random_file(tmp_path_factory.mktemp("files") / "owned.bin", 5 * MiB + 7, seed=11)
    put = mesh.json("put", str(src))
    return {"put": put, "src": src, "stat": mesh.json("stat", put["id"])}


def record(mesh: Mesh, name: str) -> dict:
    doc = json.loads((mesh.home / "run" / "mesh.json").read_text())
    return next(p for p in doc["processes"] if p["name"] == name)


def nats_url(mesh: Mesh) -> str:
    return "nats://" + record(mesh, "nats")["address"]


def index_stub(mesh: Mesh) -> tuple[grpc.Channel, index_pb2_grpc.IndexServiceStub]:
    # the client certificate every user of the mesh is given: it proves nothing more
    credentials = local_client_tls(Home(mesh.home)).channel_credentials()
    ch = grpc.secure_channel(record(mesh, "index")["address"], credentials)
    return ch, index_pb2_grpc.IndexServiceStub(ch)


def list_nodes(mesh: Mesh) -> dict[str, types_pb2.NodeStatus]:
    ch, stub = index_stub(mesh)
    with ch:
        resp = stub.ListNodes(index_pb2.ListNodesRequest(), timeout=10)
    return {n.info.node_id: n for n in resp.nodes}


def drops(mesh: Mesh, process: str) -> list[dict]:
    """The `nats_message_dropped` lines in a process's log (JSON lines)."""
    found = []
    for line in (mesh.home / "run" / "logs" / f"{process}.log").read_text().splitlines():
        if '"nats_message_dropped"' in line:
            found.append(json.loads(line))
    return found


def wait_dropped(mesh: Mesh, process: str, reason: str, sender: str) -> None:
    wait_until(
        lambda: any(d["reason"] == reason and d["sender"] == sender for d in drops(mesh, process)),
        timeout_s=30,
        what=f"{process} to drop a message of {sender!r} ({reason})",
    )


def reads_back(mesh: Mesh, stored: dict, tmp_path: Path) -> None:
    out = tmp_path / "read.bin"
    mesh.stratos("get", stored["put"]["cap"], "-o", str(out), check=True)
    assert out.read_bytes() == stored["src"].read_bytes()


def publish(mesh: Mesh, subject: str, payload: bytes, *, headers=None, stream: bool = False):
    """Publish as the stranger: a NATS account that may publish anything, no node's key."""

    async def go() -> None:
        nc = await connect_nats_as_admin(mesh.home, nats_url(mesh))
        try:
            if stream:
                await nc.jetstream().publish(subject, payload, headers=headers)
            else:
                await nc.publish(subject, payload, headers=headers)
                await nc.flush()
        finally:
            await nc.close()

    asyncio.run(go())


def self_signed(node_id: str, subject: str, payload: bytes, ahead_ms: int = 0) -> dict:
    """Headers as a node would sign them, but with the stranger's key."""
    return sign(STRANGER, node_id, subject, payload, int(time.time() * 1000) + ahead_ms)


def test_invented_nodes_are_never_listed_and_a_put_lands_on_real_nodes(mesh, stored, tmp_path):
    real = set(list_nodes(mesh))
    for i, signed in enumerate((False, True, True), start=1):
        node = f"ghost-{i}"
        subject = HEARTBEAT_SUBJECT.format(node_id=node)
        hb = events_pb2.Heartbeat(
            node=types_pb2.NodeInfo(
                node_id=node,
                address="127.0.0.1:9",
                zone=f"zone-{i}",
                capacity_bytes=1 << 60,
                public_key=STRANGER.public_bytes,
            ),
            sent_unix_ms=int(time.time() * 1000) + TEN_YEARS_MS,
        )
        data = hb.SerializeToString()
        headers = self_signed(node, subject, data, TEN_YEARS_MS) if signed else None
        publish(mesh, subject, data, headers=headers, stream=True)
    wait_dropped(mesh, "index", "unsigned", "")
    wait_dropped(mesh, "index", "not_admitted", "ghost-2")
    wait_dropped(mesh, "index", "not_admitted", "ghost-3")

    assert set(list_nodes(mesh)) == real
    src = random_file(tmp_path / "after-ghosts.bin", 3 * MiB, seed=12)
    put = mesh.json("put", str(src))
    holders = {n for seg in mesh.json("stat", put["id"])["segments"] for n in seg["nodes"]}
    assert holders and holders <= real
    out = tmp_path / "after-ghosts.out"
    mesh.stratos("get", put["cap"], "-o", str(out), check=True)
    assert out.read_bytes() == src.read_bytes()


def test_a_heartbeat_taking_over_a_nodes_name_is_ignored(mesh, stored, tmp_path):
    before = list_nodes(mesh)["storage-1"]
    subject = HEARTBEAT_SUBJECT.format(node_id="storage-1")
    hb = events_pb2.Heartbeat(
        node=types_pb2.NodeInfo(
            node_id="storage-1",
            address="127.0.0.1:9",
            zone=before.info.zone,
            capacity_bytes=1 << 60,
            public_key=STRANGER.public_bytes,
        ),
        sent_unix_ms=int(time.time() * 1000),
    )
    data = hb.SerializeToString()
    publish(mesh, subject, data, headers=self_signed("storage-1", subject, data), stream=True)
    wait_dropped(mesh, "index", "bad_signature", "storage-1")

    after = list_nodes(mesh)["storage-1"]
    assert after.info.address == before.info.address == record(mesh, "storage-1")["address"]
    assert after.info.public_key == before.info.public_key != STRANGER.public_bytes
    assert after.info.capacity_bytes == before.info.capacity_bytes
    assert after.state == types_pb2.NODE_STATE_LIVE
    reads_back(mesh, stored, tmp_path)


def _a_chunk_of(mesh: Mesh, stored: dict) -> tuple[str, str, Path]:
    seg = stored["stat"]["segments"][0]
    node = sorted(seg["nodes"])[0]
    path = mesh.data_dir(node) / "chunks" / seg["chunk_id"][:2] / seg["chunk_id"]
    assert path.is_file()
    return seg["chunk_id"], node, path


def test_a_forged_delete_job_deletes_nothing_and_is_not_redelivered(mesh, stored, tmp_path):
    cid, node, path = _a_chunk_of(mesh, stored)
    subject = REPAIR_JOB_SUBJECT.format(node_id=node)
    for i, headers in enumerate((None, "self-signed as the index")):
        job = repair_pb2.RepairJob(
            job_id=f"attack-delete-{i}",
            kind=repair_pb2.REPAIR_KIND_DELETE,
            chunk_id=cid,
            file_id=stored["put"]["id"],
            target_node_id=node,
        )
        data = job.SerializeToString()
        signed = {"Nats-Msg-Id": job.job_id}
        if headers:
            signed |= self_signed("index-1", subject, data)
        publish(mesh, subject, data, headers=signed, stream=True)
    wait_dropped(mesh, node, "unsigned", "")
    wait_dropped(mesh, node, "bad_signature", "index-1")

    async def queued() -> int:
        nc = await connect_nats_as_admin(mesh.home, nats_url(mesh))
        try:
            info = await nc.jetstream().stream_info(REPAIR_STREAM, subjects_filter=subject)
            return (info.state.subjects or {}).get(subject, 0)
        finally:
            await nc.close()

    # terminated: gone from the work queue, not redelivered until max_deliver
    wait_until(lambda: asyncio.run(queued()) == 0, timeout_s=30, what="the forged jobs to go")
    assert path.is_file()
    reads_back(mesh, stored, tmp_path)


def test_a_forged_delete_result_does_not_write_the_holders_off(mesh, stored, tmp_path):
    cid, node, _ = _a_chunk_of(mesh, stored)
    result = repair_pb2.RepairResult(
        job_id="attack-result",
        kind=repair_pb2.REPAIR_KIND_DELETE,
        file_id=stored["put"]["id"],
        chunk_id=cid,
        node_id=node,
        ok=True,
    )
    data = result.SerializeToString()
    subject = REPAIR_RESULT_SUBJECT.format(node_id=node)
    publish(mesh, subject, data)
    publish(mesh, subject, data, headers=self_signed(node, subject, data))
    wait_dropped(mesh, "index", "unsigned", "")
    wait_dropped(mesh, "index", "bad_signature", node)

    assert mesh.json("stat", stored["put"]["id"]) == stored["stat"]
    reads_back(mesh, stored, tmp_path)


def test_a_forged_audit_result_has_no_effect(mesh, stored, tmp_path):
    """Nothing in the mesh acts on audit results yet (the index writes copies off from its own
    audits); the index signs its results so the incentive service can check them."""
    cid, node, _ = _a_chunk_of(mesh, stored)
    forged = events_pb2.AuditResult(
        file_id=stored["put"]["id"], chunk_id=cid, node_id=node, passed=False, reason="corrupt"
    )
    data = forged.SerializeToString()
    publish(
        mesh, AUDIT_RESULT_SUBJECT, data, headers=self_signed("index-1", AUDIT_RESULT_SUBJECT, data)
    )
    time.sleep(2)  # whatever would act on it has had time to (nothing may)
    assert mesh.json("stat", stored["put"]["id"]) == stored["stat"]
    assert list_nodes(mesh)[node].state == types_pb2.NODE_STATE_LIVE
    reads_back(mesh, stored, tmp_path)


def test_drain_node_without_the_admin_key_is_refused(mesh, stored, tmp_path):
    from stratos.common.admin_auth import sign_request

    ch, stub = index_stub(mesh)
    with ch:
        unsigned = index_pb2.DrainNodeRequest(node_id="storage-2")
        forged = index_pb2.DrainNodeRequest(node_id="storage-3")
        forged.admin.CopyFrom(sign_request(STRANGER, "DrainNode", forged))
        for req, words in ((unsigned, "sign it with"), (forged, "not signed by the admin key")):
            with pytest.raises(grpc.RpcError) as err:
                stub.DrainNode(req, timeout=10)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert words in err.value.details()
    assert not any(n.draining for n in list_nodes(mesh).values())

    # the CLI with a key that is not the admin's: one sentence, exit 1, nothing started
    key = tmp_path / "not-admin.pem"
    from stratos.common.identity import load_or_create

    load_or_create(key)
    cli = mesh.stratos("node", "drain", "storage-2", "--no-wait", "--admin-key", str(key))
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert "not signed by the admin key" in cli.stderr
    assert not list_nodes(mesh)["storage-2"].draining

    # a drain the admin started is not cancelled by a stranger
    mesh.stratos("node", "drain", "storage-4", "--no-wait", check=True)
    cancel = index_pb2.DrainNodeRequest(node_id="storage-4", cancel=True)
    ch, stub = index_stub(mesh)
    with ch:
        with pytest.raises(grpc.RpcError) as err:
            stub.DrainNode(cancel, timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert list_nodes(mesh)["storage-4"].draining
    mesh.stratos("node", "drain", "storage-4", "--cancel", check=True)
    assert not list_nodes(mesh)["storage-4"].draining
    reads_back(mesh, stored, tmp_path)
