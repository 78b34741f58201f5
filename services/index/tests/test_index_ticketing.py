"""What the index signs (stratos.index.ticketing): exactly the chunks and nodes a call
involves, in tickets a storage node accepts."""

from __future__ import annotations

from stratos.common import admission, tickets
from stratos.common.identity import Identity, address_of
from stratos.common.tickets import Bearer
from stratos.index.ticketing import TicketSigner, group
from stratos.v1 import auth_pb2, repair_pb2, ticket_pb2

NOW = 1_700_000_000_000
META, ADMIN, TARGET = Identity.generate(), Identity.generate(), Identity.generate()
ADMISSION = admission.open_list(
    admission.issue(
        ADMIN, "m", 1, [admission.Member("index-0", auth_pb2.MESH_ROLE_META, META.public_bytes)]
    ),
    ADMIN.public_bytes,
    "m",
)


def signer() -> TicketSigner:
    return TicketSigner(META, "index-0", clock_ms=lambda: NOW)


def test_groups_stay_within_the_chunk_and_node_bounds():
    chunks = [(f"{i:064x}", 10, [f"s-{i % 100}"]) for i in range(600)]
    groups = group(chunks)
    assert sum(len(g.chunk_ids) for g in groups) == 600
    assert all(len(g.chunk_ids) <= tickets.MAX_CHUNKS for g in groups)
    assert all(len(g.node_ids) <= tickets.MAX_NODES for g in groups)


def test_a_read_ticket_covers_the_files_chunks_on_their_holders_paid_by_the_reader():
    reader = Identity.generate()
    [signed] = signer().for_read(reader.public_bytes, "f1", [("a" * 64, 100, ["s-1", "s-2"])])
    t = tickets.parse(signed)
    assert list(t.chunk_ids) == ["a" * 64] and sorted(t.node_ids) == ["s-1", "s-2"]
    assert t.payer == address_of(reader.public_bytes) and t.byte_budget == 200
    assert list(t.actions) == [ticket_pb2.TICKET_ACTION_GET] and t.file_id == "f1"


def test_a_copy_job_ticket_lets_its_target_fetch_the_chunk_from_its_sources_only():
    job = repair_pb2.RepairJob(
        kind=repair_pb2.REPAIR_KIND_COPY,
        chunk_id="c" * 64,
        size=50,
        target_node_id="s-9",
        sources=[repair_pb2.ChunkSource(node_id="s-1", address="x")],
    )
    signed = signer().for_repair(job, TARGET.public_bytes)
    proof = Bearer(TARGET, signed).prove("GetChunk", "s-1", "c" * 64, "0", "0")
    t = tickets.admit(
        proof,
        ADMISSION,
        method="GetChunk",
        action=ticket_pb2.TICKET_ACTION_GET,
        node_id="s-1",
        chunk_id="c" * 64,
        fields=("c" * 64, "0", "0"),
        now=NOW + 1,
    )
    assert t.payer == "" and t.node_ids == {"s-1"}
    delete = repair_pb2.RepairJob(kind=repair_pb2.REPAIR_KIND_DELETE, chunk_id="c" * 64)
    assert signer().for_repair(delete, TARGET.public_bytes) is None


def test_the_index_reuses_its_own_ticket_per_storage_node():
    s = signer()
    assert s.own("s-1") is s.own("s-1")
    assert s.own("s-1") is not s.own("s-2")
