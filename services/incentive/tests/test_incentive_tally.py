"""The tally: receipts and audits in stream order → the epoch's report, the same on every
replica, paying nodes only for receipts their payers signed."""

from __future__ import annotations

from stratos.common import admission, receipts, tickets
from stratos.common.epoch_reports import shape_problem
from stratos.common.identity import Identity, address_of
from stratos.incentive.tally import Tally
from stratos.v1 import auth_pb2, events_pb2, ledger_pb2, receipt_pb2, ticket_pb2

NOW = 1_700_000_000_000
PUT, GET = ticket_pb2.TICKET_ACTION_PUT, ticket_pb2.TICKET_ACTION_GET
ADMIN, META, S1, S2 = (Identity.generate() for _ in range(4))
ALICE, BOB = Identity.generate(), Identity.generate()
ADMISSION = admission.open_list(
    admission.issue(
        ADMIN,
        "mesh",
        1,
        [
            admission.Member("index-1", auth_pb2.MESH_ROLE_META, META.public_bytes),
            admission.Member("storage-1", auth_pb2.MESH_ROLE_STORAGE, S1.public_bytes),
            admission.Member("storage-2", auth_pb2.MESH_ROLE_STORAGE, S2.public_bytes),
        ],
    ),
    ADMIN.public_bytes,
    "mesh",
)
C1, C2 = "a" * 64, "b" * 64
A1, A2 = address_of(S1.public_bytes), address_of(S2.public_bytes)


def ticket(holder=ALICE, *, action=PUT, budget=2_000, payer=None, nodes=("storage-1", "storage-2")):
    return tickets.issue(
        META,
        "index-1",
        holder_public_key=holder.public_bytes,
        actions=[action],
        chunk_ids=[C1, C2],
        node_ids=nodes,
        byte_budget=budget,
        ttl_ms=600_000,
        payer=address_of(holder.public_bytes) if payer is None else payer,
        now=NOW,
    )


def batch(node, t, *items, holder=ALICE, action=PUT) -> receipt_pb2.ReceiptBatch:
    """items: (chunk, bytes, serial)"""
    b = receipt_pb2.ReceiptBatch(node_id=node, tickets=[t])
    for chunk, n, serial in items:
        b.receipts.append(
            receipts.sign(
                holder, t, chunk_id=chunk, node_id=node, action=action, nbytes=n, serial=serial
            )
        )
    return b


def fresh() -> Tally:
    return Tally(lambda: ADMISSION)


def test_receipts_become_bytes_per_node_and_ozone_per_payer() -> None:
    tally = fresh()
    t = ticket()
    assert tally.add_receipts(batch("storage-1", t, (C1, 700, 0), (C2, 300, 0)), NOW) == []
    assert tally.add_receipts(batch("storage-2", t, (C1, 700, 0)), NOW + 5) == []
    report = tally.close(0)
    assert report.epoch == 0
    assert [(x.node, x.bytes) for x in report.traffic] == sorted([(A1, 1_000), (A2, 700)])
    assert [(p.payer, p.ozone) for p in report.payers] == [(address_of(ALICE.public_bytes), 1_700)]
    signed = ledger_pb2.EpochReport()
    signed.CopyFrom(report)
    signed.signatures.add(public_key=b"k" * 32, signature=b"s" * 64)
    assert shape_problem(signed) is None  # sorted, unique, payers within the bytes
    assert tally.close(1).traffic == []  # the next epoch starts empty


def test_the_same_stream_gives_every_replica_the_same_report() -> None:
    t = ticket()
    stream = [
        (batch("storage-1", t, (C1, 100, 0)), NOW),
        (batch("storage-2", t, (C2, 200, 0), (C2, 200, 0)), NOW + 1),
    ]
    reports = []
    for _ in range(2):
        tally = fresh()
        for b, ts in stream:
            tally.add_receipts(b, ts)
        reports.append(tally.close(3).SerializeToString(deterministic=True))
    assert reports[0] == reports[1]


def test_replays_inflation_and_foreign_receipts_earn_nothing() -> None:
    tally = fresh()
    t = ticket(budget=1_000)
    assert tally.add_receipts(batch("storage-1", t, (C1, 600, 0)), NOW) == []
    # the same receipt again, in a later batch: a replay
    again = tally.add_receipts(batch("storage-1", t, (C1, 600, 0)), NOW + 1)
    assert [r.reason for r in again] == ["the receipt was already counted"]
    # a second honest-looking receipt that would take the ticket past its budget at the node
    over = tally.add_receipts(batch("storage-1", t, (C2, 600, 1)), NOW + 2)
    assert "more than its budget of 1000 bytes" in over[0].reason
    # storage-2 publishes a receipt made for storage-1
    stolen = batch("storage-1", t, (C2, 100, 2))
    stolen.node_id = "storage-2"
    assert "not storage-2" in tally.add_receipts(stolen, NOW + 3)[0].reason
    # a node signs its own receipt (it does not have the payer's key)
    forged = batch("storage-2", t, (C2, 100, 3), holder=S2)
    assert "not signed by its ticket's holder" in tally.add_receipts(forged, NOW + 4)[0].reason
    # a stranger publishing as a storage node
    stranger = batch("storage-9", t, (C1, 1, 4))
    assert tally.add_receipts(stranger, NOW + 5)[0].reason == "not an admitted storage node"
    # an expired ticket past the grace period
    late = tally.add_receipts(batch("storage-2", t, (C1, 10, 5)), NOW + 600_000 + receipts.GRACE_MS)
    assert "expired" in late[0].reason
    report = tally.close(0)
    assert [(x.node, x.bytes) for x in report.traffic] == [(A1, 600)]
    assert report.payers[0].ozone == 600


def test_network_traffic_pays_the_node_and_charges_no_one() -> None:
    tally = fresh()
    repair = ticket(holder=S2, action=GET, payer="", nodes=("storage-1",))
    tally.add_receipts(batch("storage-1", repair, (C1, 500, 0), holder=S2, action=GET), NOW)
    report = tally.close(0)
    assert [(x.node, x.bytes) for x in report.traffic] == [(A1, 500)]
    assert list(report.payers) == []


def test_failed_audits_count_only_what_a_node_did_to_the_data() -> None:
    tally = fresh()
    for reason in ("wrong digest", "chunk missing", "node unreachable"):
        tally.add_audit(events_pb2.AuditResult(node_id="storage-2", passed=False, reason=reason))
    tally.add_audit(events_pb2.AuditResult(node_id="storage-1", passed=True))
    tally.add_audit(
        events_pb2.AuditResult(node_id="storage-9", passed=False, reason="wrong digest")
    )
    report = tally.close(0)
    assert [(x.node, x.bytes, x.audits_failed) for x in report.traffic] == [(A2, 0, 2)]


def test_a_ticket_naming_a_bogus_payer_pays_no_one() -> None:
    tally = fresh()
    t = ticket(payer="not-an-address")
    refused = tally.add_receipts(batch("storage-1", t, (C1, 10, 0)), NOW)
    assert refused[0].reason == "the ticket's payer is not a wallet address"
    assert BOB  # a second wallet, for readers comparing payers
