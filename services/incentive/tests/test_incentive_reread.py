"""Two incentive replicas on a real nats-server that read the same traffic with different
admission lists — one still without a storage node admitted a moment ago — sign different
reports for the epoch, so neither reaches its quorum. The lagging replica sees the other digest,
reads the unsettled epochs again with the list it has now, and signs the same report: the
epoch has its quorum instead of waiting forever."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import SimpleNamespace

import pytest

from stratos.common import admission, receipts, tickets
from stratos.common.identity import Identity, address_of
from stratos.common.nats_subjects import RECEIPTS_SUBJECT
from stratos.common.nats_trust import Gate, Signer
from stratos.common.signed import sign
from stratos.common.testing import nats_server
from stratos.incentive import settle
from stratos.incentive.settle import Settler
from stratos.incentive.tally import Tally
from stratos.incentive.traffic import Position, TrafficReader, ensure_traffic, publish_mark
from stratos.v1 import auth_pb2, receipt_pb2, ticket_pb2

pytestmark = pytest.mark.integration

ADMIN, META, S1, USER = (Identity.generate() for _ in range(4))
REPLICAS = {f"incentive-{i}": Identity.generate() for i in (1, 2, 3)}
BASE = [
    admission.Member("index-1", auth_pb2.MESH_ROLE_META, META.public_bytes),
    *(
        admission.Member(n, auth_pb2.MESH_ROLE_INCENTIVE, k.public_bytes)
        for n, k in REPLICAS.items()
    ),
]


def admitted(version: int, *extra: admission.Member) -> admission.Admission:
    signed = admission.issue(ADMIN, "mesh", version, [*BASE, *extra])
    return admission.open_list(signed, ADMIN.public_bytes, "mesh")


OLD = admitted(1)
NEW = admitted(2, admission.Member("storage-1", auth_pb2.MESH_ROLE_STORAGE, S1.public_bytes))
STATUS = SimpleNamespace(  # the chain as the settlers see it: epoch 0 next, 3 meta nodes
    epochs=SimpleNamespace(next_to_settle=0, bonded_meta_nodes=3, last_settled_height=0)
)


def receipt_batch() -> receipt_pb2.ReceiptBatch:
    t = tickets.issue(
        META,
        "index-1",
        holder_public_key=USER.public_bytes,
        actions=[ticket_pb2.TICKET_ACTION_PUT],
        chunk_ids=["a" * 64],
        node_ids=["storage-1"],
        byte_budget=10_000,
        ttl_ms=600_000,
        payer=address_of(USER.public_bytes),
    )
    r = receipts.sign(
        USER, t, chunk_id="a" * 64, node_id="storage-1",
        action=ticket_pb2.TICKET_ACTION_PUT, nbytes=4_096,
    )  # fmt: skip
    return receipt_pb2.ReceiptBatch(node_id="storage-1", tickets=[t], receipts=[r])


async def wait_for(check, what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_lagging_replica_reads_again_and_signs_what_the_others_signed(
    monkeypatch,
) -> None:
    from stratos.common import natsutil

    monkeypatch.setattr(settle, "REREAD_AFTER_S", 0.0)
    with nats_server() as server:
        nc = await natsutil.connect(server.url, name="reread", connect_deadline_s=10)
        tasks = []
        try:
            kv = await ensure_traffic(nc, replicas=1, max_age_s=3600)
            views = {"incentive-1": NEW, "incentive-2": OLD}  # incentive-2 has not got it yet
            replicas = {}
            for name in views:

                def current(name=name):
                    return views[name]

                settler = Settler(
                    nc, kv, None, REPLICAS[name], chain_id="c", fee_nstos=0, stagger_s=0
                )
                reader = TrafficReader(
                    nc, kv, Tally(current), Gate(current), settler.on_report, settled_below=0
                )
                await reader.start(Position(1, None))
                tasks.append(asyncio.create_task(reader.run()))
                replicas[name] = (settler, reader, current)

            subject = RECEIPTS_SUBJECT.format(node_id="storage-1")
            payload = receipt_batch().SerializeToString()
            await nc.jetstream().publish(
                subject, payload, headers=sign(S1, "storage-1", subject, payload)
            )
            await publish_mark(nc, Signer("incentive-1", REPLICAS["incentive-1"]), 0, 20)
            await wait_for(lambda: all(0 in s.pending for s, _, _ in replicas.values()), "reports")
            (one, _, _), (two, reader_two, _) = replicas.values()
            assert one.pending[0].digest != two.pending[0].digest  # they counted differently
            assert one.pending[0].report.traffic and not two.pending[0].report.traffic

            views["incentive-2"] = NEW  # the list reaches the lagging replica
            for settler, _, _ in replicas.values():
                await settler.step(STATUS)  # neither has 2 of 3 signatures
            # each sees the other's digest and reads again (what the settle loop then does);
            # the one that was right counts the same again, the one that lagged now agrees
            for settler, reader, current in replicas.values():
                assert settler.reread_due
                settler.reread_due = False
                await reader.reread(Position(1, None), Tally(current))
            await wait_for(
                lambda: (
                    two.pending[0].digest == one.pending[0].digest and one.pending[0].report.traffic
                ),
                "agreement",
            )
            assert reader_two.rereads == 1
            sigs = await one.signatures(0, one.pending[0].digest)
            assert len(sigs) == 2  # the quorum of 3 bonded meta nodes
            assert two.pending[0].report == one.pending[0].report
        finally:
            for t in tasks:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await nc.close()
