"""Proof-of-Traffic on a real local mesh (nats-server, index, storage nodes, a validator and the
incentive service as separate processes): the user's puts and gets are paid from its ozone,
exactly the bytes the storage nodes moved, and settled on the chain once per epoch; a storage
node that replays, inflates or signs its own receipts earns nothing for them, and the incentive
service logs why."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.chainwatch import SETTLE_TIMEOUT_S, Settled, storage_address
from e2e.conftest import FAST_ENV, Mesh, connect_nats_as_admin, random_file
from stratos.common import receipts
from stratos.common.identity import address_of, load_or_create
from stratos.common.nats_credentials import read_credentials
from stratos.common.nats_subjects import RECEIPTS_SUBJECT, TRAFFIC_STREAM
from stratos.common.natsutil import NatsLogin, connect
from stratos.common.signed import sign
from stratos.common.stos import parse_stos
from stratos.v1 import receipt_pb2, ticket_pb2

pytestmark = [pytest.mark.integration, pytest.mark.attack]

KiB = 1024


@pytest.fixture(scope="module")
def mesh(tmp_path_factory) -> Iterator[Mesh]:
    """Three storage nodes, one validator (blocks once a second) and the incentive service."""
    home = tmp_path_factory.mktemp("incentive") / "home"
    env = {**os.environ, **FAST_ENV, "STRATOS_HOME": str(home)}
    env.pop("STRATOS_INDEX_ADDRESS", None)
    m = Mesh(home, env)
    m.stratos("dev", "up", "--storage-nodes", "3", "--validators", "1", timeout=180, check=True)
    try:
        yield m
    finally:
        m.stratos("dev", "down", timeout=60)


def test_every_byte_moved_is_paid_once_from_the_payers_ozone(mesh: Mesh, tmp_path: Path) -> None:
    watch = Settled(mesh)
    start = watch.poll()["current_epoch"]
    ozone0 = mesh.json("balance")["ozone"]
    src = random_file(tmp_path / "paid.bin", 256 * KiB + 5, seed=3)
    put = mesh.json("put", str(src))
    stored = sum(s["stored_size"] for s in mesh.json("stat", put["id"])["segments"])
    assert put["ozone"] == 3 * stored  # what the put's receipts will be charged
    got = mesh.json("get", put["cap"], "-o", str(tmp_path / "back.bin"))
    assert got["ozone"] == stored
    expected = 3 * stored + stored  # three copies written, one read
    # `stratos ozone` tells what the last put and get moved, priced now
    shown = mesh.json("ozone")
    assert (shown["last_put"]["ozone"], shown["last_get"]["ozone"]) == (3 * stored, stored)
    assert shown["last_put"]["id"] == put["id"] and shown["last_put"]["cost_now"] is not None

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while ozone0 - mesh.json("balance")["ozone"] < expected:
        assert time.monotonic() < deadline, "the traffic was not settled"
        watch.poll()
        time.sleep(1.0)
    settled_through = watch.poll()["next_to_settle"] - 1
    assert ozone0 - mesh.json("balance")["ozone"] == expected  # exactly once, nothing more

    epochs = range(start, settled_through + 1)
    per_node = {
        name: watch.bytes_at(storage_address(mesh, name), epochs)
        for name in ("storage-1", "storage-2", "storage-3")
    }
    assert sum(per_node.values()) == expected
    assert all(n >= stored for n in per_node.values()), per_node  # each wrote a copy
    assert all(
        t["audits_failed"] == 0 for e in epochs for t in watch.reports.get(e, {}).get("traffic", [])
    )
    # the storage nodes were paid: their balances started at 0 (deposits are locked apart)
    for name in per_node:
        assert mesh.json("balance", storage_address(mesh, name))["balance_nstos"] > 0
    # `stratos rewards` finds the same settled epochs in the chain's blocks
    shown = mesh.json("rewards", "--epochs", str(settled_through - start + 1))
    assert {e["epoch"] for e in shown["epochs"]} == set(epochs)
    assert sum(n["bytes"] for n in shown["nodes"]) == expected
    assert all(e["mined"] == "10" for e in shown["epochs"])
    # what the ledger says it paid each address adds up to each epoch's rewards, and every
    # storage node that served bytes earned some
    for e in shown["epochs"]:
        paid = sum(c["earned_nstos"] for c in e["credits"])
        assert paid == parse_stos(e["traffic_reward"]) + parse_stos(e["mined"])
    earned = {n["node"]: n["earned_nstos"] for n in shown["nodes"]}
    assert all(earned[storage_address(mesh, name)] > 0 for name in per_node)


async def _forge(mesh: Mesh, nats_url: str) -> int:
    """As storage-1 (its NATS user and its key): republish one of its real receipt batches,
    an inflated copy, and receipts it signed itself. Returns how many receipts it sent."""
    admin = await connect_nats_as_admin(mesh.home, nats_url)
    try:
        js = admin.jetstream()
        info = await js.stream_info(TRAFFIC_STREAM)
        batch = None
        for seq in range(info.state.last_seq, info.state.first_seq - 1, -1):
            msg = await js.get_msg(TRAFFIC_STREAM, seq)
            if msg.subject == RECEIPTS_SUBJECT.format(node_id="storage-1"):
                batch = receipt_pb2.ReceiptBatch.FromString(msg.data)
                break
        assert batch is not None, "storage-1 published no receipts"
    finally:
        await admin.close()
    node_key = load_or_create(mesh.home / "run" / "storage-1" / "identity.pem")
    inflated = receipt_pb2.ReceiptBatch()
    inflated.CopyFrom(batch)
    for r in inflated.receipts:
        body = receipt_pb2.Receipt.FromString(r.receipt)
        body.bytes *= 10
        r.receipt = body.SerializeToString()
    own = receipt_pb2.ReceiptBatch(node_id="storage-1", tickets=batch.tickets)
    for r in batch.receipts:
        body = receipt_pb2.Receipt.FromString(r.receipt)
        ticket = next(
            t for t in batch.tickets if receipts.tickets_by_id([t]).get(bytes(body.ticket_id))
        )
        own.receipts.append(
            receipts.sign(
                node_key,
                ticket,
                chunk_id=body.chunk_id,
                node_id="storage-1",
                action=body.action,
                nbytes=body.bytes,
                serial=body.serial + 1,
            )
        )
    auth, ca = mesh.home / "run" / "nats-auth", mesh.home / "run" / "tls" / "ca.pem"
    login = NatsLogin(read_credentials(auth / "users" / "storage.storage-1.nk"), str(ca))
    nc = await connect(nats_url, name="forger", login=login, connect_deadline_s=10)
    try:
        subject = RECEIPTS_SUBJECT.format(node_id="storage-1")
        for forged in (batch, inflated, own):
            payload = forged.SerializeToString()
            headers = sign(node_key, "storage-1", subject, payload)
            await nc.jetstream().publish(subject, payload, headers=headers)
    finally:
        await nc.close()
    return len(batch.receipts) * 3


def test_a_node_earns_nothing_for_replayed_inflated_or_self_signed_receipts(
    mesh: Mesh, tmp_path: Path
) -> None:
    # an honest put first, settled, so that storage-1 has real receipts to forge from
    ozone0 = mesh.json("balance")["ozone"]
    put = mesh.json("put", str(random_file(tmp_path / "honest.bin", 64 * KiB, seed=4)))
    stored = sum(s["stored_size"] for s in mesh.json("stat", put["id"])["segments"])
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while ozone0 - mesh.json("balance")["ozone"] < 3 * stored:
        assert time.monotonic() < deadline, "the honest put was not settled"
        time.sleep(1.0)
    watch = Settled(mesh)
    before = watch.poll()
    ozone0 = mesh.json("balance")["ozone"]
    nats_url = "nats://" + mesh.status()["nats"]["address"]
    sent = asyncio.run(_forge(mesh, nats_url))
    assert sent >= 3
    # the epoch the forgeries landed in, and the one after, settle without them
    target = before["current_epoch"] + 1
    watch.until_settled(target)
    me = storage_address(mesh, "storage-1")
    assert watch.bytes_at(me, range(before["current_epoch"], target + 1)) == 0
    assert mesh.json("balance")["ozone"] == ozone0  # the payer was charged nothing
    log = (mesh.home / "run" / "logs" / "incentive-1.log").read_text()
    assert "the receipt was already counted" in log
    assert "not signed by its ticket's holder" in log


def test_a_wallet_without_ozone_is_refused_before_any_byte_moves(
    mesh: Mesh, tmp_path: Path
) -> None:
    from stratos.common.errors import FailedPrecondition
    from stratos.common.identity import Identity
    from stratos.sdk.client import MeshClient
    from stratos.sdk.home import Home
    from stratos.sdk.meshtls import local_client_tls

    def chunk_files() -> int:
        return sum(
            1
            for n in ("storage-1", "storage-2", "storage-3")
            for p in (mesh.home / "run" / n / "chunks").rglob("*")
            if p.is_file()
        )

    before = chunk_files()
    src = random_file(tmp_path / "unpaid.bin", 300 * KiB, seed=5)
    index = mesh.status()["index"]["address"]
    credentials = local_client_tls(Home(mesh.home)).channel_credentials()

    async def put_as_a_stranger() -> str:
        async with MeshClient([index], Identity.generate(), credentials=credentials) as client:
            with pytest.raises(FailedPrecondition) as info:
                await client.put(src, replicas=3)
            return info.value.message

    sentence = asyncio.run(put_as_a_stranger())
    assert "needs" in sentence and "ozone" in sentence and "has 0 free" in sentence, sentence
    assert chunk_files() == before  # refused before any byte moved
    # the mesh's own wallet holds ozone, and its put of the same file goes through
    assert mesh.json("put", str(src))["size"] == 300 * KiB
    # the CLI: another wallet pays with --from; refused in one sentence until it holds ozone
    bob = mesh.stratos("wallet", "new", "bob", check=True).stdout.strip()
    refused = mesh.stratos("put", str(src), "--from", "bob")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().startswith("error: this transfer needs ")
    assert f"the wallet {bob} has 0 free" in refused.stderr
    mesh.stratos("send", bob, "10", check=True)
    mesh.stratos("ozone", "buy", "1", "--from", "bob", check=True)
    assert mesh.json("put", str(src), "--from", "bob")["size"] == 300 * KiB


def test_an_incentive_replica_killed_mid_epoch_loses_no_receipt(mesh: Mesh, tmp_path: Path) -> None:
    """Receipts are in JetStream before a client is answered, and a replica keeps no state of
    its own: SIGKILLed with traffic in its open epoch and started again, it settles every byte,
    each epoch once."""
    watch = Settled(mesh)
    watch.until_settled(watch.poll()["current_epoch"])  # what earlier tests moved is settled
    ozone0 = mesh.json("balance")["ozone"]
    first = watch.poll()["next_to_settle"]
    stored = 0
    for i in range(2):
        put = mesh.json("put", str(random_file(tmp_path / f"k{i}.bin", 100 * KiB, seed=20 + i)))
        stored += sum(s["stored_size"] for s in mesh.json("stat", put["id"])["segments"])
        if i == 0:
            mesh.stratos("dev", "kill", "incentive-1", check=True)
    mesh.stratos("dev", "start", "incentive-1", check=True)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while ozone0 - mesh.json("balance")["ozone"] < 3 * stored:
        assert time.monotonic() < deadline, "the receipts were not all settled"
        watch.poll()
        time.sleep(1.0)
    last = watch.poll()["next_to_settle"] - 1
    assert ozone0 - mesh.json("balance")["ozone"] == 3 * stored  # every byte, once
    watch.fill(range(first, last + 1))
    moved = sum(
        t["bytes"]
        for e in range(first, last + 1)
        for t in watch.reports.get(e, {}).get("traffic", [])
    )
    assert moved == 3 * stored


def test_a_node_downloading_its_own_files_in_a_loop_pays_more_than_its_traffic_earns(
    mesh: Mesh, tmp_path: Path
) -> None:
    """Self-dealing: storage-1's own wallet (its identity key) buys ozone and reads a file in a
    loop. The resource nodes' part of what the chain paid for that traffic — an upper bound of
    what storage-1 could earn from it — is less than the STOS its ozone cost. (The whole
    traffic reward is not: R = (S+P)·Y/(L+Y) is priced at the pool after the node's own
    purchase, a little above what it paid.)"""
    import shutil
    from fractions import Fraction

    from stratos.consensus.ledger.state import Params

    key = mesh.home / "run" / "storage-1" / "identity.pem"
    shutil.copy(key, mesh.home / "keys" / "node1.pem")
    node1 = storage_address(mesh, "storage-1")
    mesh.stratos("send", node1, "50", check=True)
    bought = mesh.json("ozone", "buy", "10", "--from", "node1")
    ozone_per_nstos = Fraction(int(bought["result"].split("bought ", 1)[1].split(" ")[0]), 10**10)
    put = mesh.json("put", str(random_file(tmp_path / "mine.bin", 512 * KiB, seed=9)))
    watch = Settled(mesh)
    watch.until_settled(watch.poll()["current_epoch"])  # earlier traffic is settled
    first = watch.poll()["next_to_settle"]
    held = mesh.json("ozone", "--from", "node1")["ozone"]
    for _ in range(8):
        mesh.stratos(
            "get", put["cap"], "-o", str(tmp_path / "again.bin"), "--from", "node1", check=True
        )
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while mesh.json("ozone", "--from", "node1")["ozone"] == held:
        assert time.monotonic() < deadline, "the loop's traffic was not settled"
        time.sleep(1.0)
    watch.until_settled(watch.poll()["current_epoch"])
    used = held - mesh.json("ozone", "--from", "node1")["ozone"]
    assert used > 0
    last = watch.poll()["next_to_settle"] - 1
    shown = mesh.json("rewards", "--epochs", str(last - first + 1))
    paid_for_traffic = sum(
        Fraction(e["traffic_reward"]) * 10**9 for e in shown["epochs"] if e["epoch"] >= first
    )
    cost = used / ozone_per_nstos  # nstos its ozone cost at the price it bought at
    # the resource nodes' part of the traffic reward: the most storage-1 could have earned
    # from these bytes, had it served every one of them itself
    share = Fraction(Params().reward_resource_bps, 10_000)
    assert paid_for_traffic * share < cost, (paid_for_traffic, cost)


def _traffic_seq(mesh: Mesh, subject: str) -> int:
    """How many messages the traffic stream holds on `subject` (read as the mesh admin)."""

    async def count() -> int:
        nc = await connect_nats_as_admin(mesh.home, "nats://" + mesh.status()["nats"]["address"])
        try:
            info = await nc.jetstream().stream_info(TRAFFIC_STREAM, subjects_filter=subject)
            return (info.state.subjects or {}).get(subject, 0)
        finally:
            await nc.close()

    return asyncio.run(count())


def test_a_stranger_cannot_hand_a_node_receipts(mesh: Mesh, tmp_path: Path) -> None:
    """A stranger — a fresh key and what every client has (the node's address, the mesh's CA
    certificate), no NATS user, no ozone — hands storage-2 receipts for a gibibyte under a
    ticket it issued itself, and under one that names the index and the user's wallet as payer:
    refused in one sentence, and nothing reaches the traffic stream."""
    import grpc

    from stratos.common import tickets
    from stratos.common.identity import Identity
    from stratos.sdk.home import Home
    from stratos.sdk.meshtls import local_client_tls
    from stratos.v1 import storage_pb2_grpc

    stranger = Identity.generate()
    subject = RECEIPTS_SUBJECT.format(node_id="storage-2")
    mesh.json("put", str(random_file(tmp_path / "honest.bin", 32 * KiB, seed=50)))
    deadline = time.monotonic() + 30
    while (before := _traffic_seq(mesh, subject)) == 0:  # storage-2 handed on a copy's receipt
        assert time.monotonic() < deadline, "storage-2 handed on no receipt of an honest put"
        time.sleep(0.5)
    me = address_of(load_or_create(mesh.home / "keys" / "default.pem").public_bytes)
    forged = [
        tickets.issue(
            stranger,
            issuer,
            holder_public_key=stranger.public_bytes,
            actions=[ticket_pb2.TICKET_ACTION_GET],
            node_ids=["storage-2"],
            byte_budget=1 << 30,
            ttl_ms=60_000,
            chunk_ids=["ab" * 32],
            payer=payer,
        )
        for issuer, payer in (("stranger", address_of(stranger.public_bytes)), ("index", me))
    ]
    credentials = local_client_tls(Home(mesh.home)).channel_credentials()
    with grpc.secure_channel(mesh.status()["storage-2"]["address"], credentials) as ch:
        stub = storage_pb2_grpc.StorageServiceStub(ch)
        for ticket in forged:
            receipt = receipts.sign(
                stranger, ticket, chunk_id="ab" * 32, node_id="storage-2",
                action=ticket_pb2.TICKET_ACTION_GET, nbytes=1 << 30,
            )  # fmt: skip
            request = receipt_pb2.SubmitReceiptsRequest(receipts=[receipt], tickets=[ticket])
            with pytest.raises(grpc.RpcError) as refused:
                stub.SubmitReceipts(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            sentence = refused.value.details()
            assert sentence and "\n" not in sentence and "Traceback" not in sentence
    # nothing of it was handed on, so nothing of it can be settled or charged to anyone
    assert _traffic_seq(mesh, subject) == before


def test_repair_traffic_pays_the_source_node_and_charges_no_one(mesh: Mesh, tmp_path: Path) -> None:
    """The network pays for repair: when storage-1 is lost, the nodes its copies are fetched
    from are credited with those bytes by the fetching node's receipts, and no wallet's ozone
    moves. (Runs last: it leaves storage-1 down.)"""
    put = mesh.json("put", str(random_file(tmp_path / "healed.bin", 256 * KiB, seed=30)))
    stored = sum(s["stored_size"] for s in mesh.json("stat", put["id"])["segments"])
    mesh.stratos("dev", "add-storage", timeout=120, check=True)
    watch = Settled(mesh)
    watch.until_settled(watch.poll()["current_epoch"])  # the put is settled
    ozone0 = mesh.json("balance")["ozone"]
    first = watch.poll()["next_to_settle"]
    mesh.stratos("dev", "kill", "storage-1", check=True)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:  # healed: three live copies again, the new one on storage-4
        segs = mesh.json("stat", put["id"])["segments"]
        if all(sum(st == "LIVE" for st in s["nodes"].values()) >= 3 for s in segs):
            break
        assert time.monotonic() < deadline, "the file was not repaired"
        watch.poll()  # every epoch settled meanwhile is seen while it is the last one
        time.sleep(1.0)
    sources = [storage_address(mesh, n) for n in ("storage-2", "storage-3")]

    def credited() -> int:  # over every epoch settled since storage-1 was killed
        last = watch.poll()["next_to_settle"] - 1
        return sum(watch.bytes_at(a, range(first, last + 1)) for a in sources)

    # each copy made was fetched from one of them; its receipt may land in the epoch after
    # the one the repair finished in (it is handed over off the repair's path)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while credited() < stored:
        assert time.monotonic() < deadline, f"only {credited()} of {stored} bytes credited"
        time.sleep(1.0)
    assert mesh.json("balance")["ozone"] == ozone0  # nobody's wallet paid for the repair
