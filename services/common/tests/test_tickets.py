"""Tickets: what a storage node accepts (stratos.common.tickets), checked without a network."""

from __future__ import annotations

import pytest

from stratos.common import admission, tickets
from stratos.common.identity import Identity
from stratos.common.tickets import Bearer, TicketRefused
from stratos.v1 import auth_pb2, ticket_pb2

NOW = 1_700_000_000_000
PUT, GET = ticket_pb2.TICKET_ACTION_PUT, ticket_pb2.TICKET_ACTION_GET
DELETE, LIST = ticket_pb2.TICKET_ACTION_DELETE, ticket_pb2.TICKET_ACTION_LIST
CHUNK, OTHER = "a" * 64, "b" * 64

ADMIN, META, ROGUE, STORE = (Identity.generate() for _ in range(4))
ALICE, MALLORY = Identity.generate(), Identity.generate()
ADMISSION = admission.open_list(
    admission.issue(
        ADMIN,
        "mesh",
        1,
        [
            admission.Member("index-0", auth_pb2.MESH_ROLE_META, META.public_bytes),
            admission.Member("storage-1", auth_pb2.MESH_ROLE_STORAGE, STORE.public_bytes),
        ],
    ),
    ADMIN.public_bytes,
    "mesh",
)


def ticket(
    *,
    issuer: Identity = META,
    issuer_id: str = "index-0",
    holder: Identity = ALICE,
    actions=(PUT,),
    chunks=(CHUNK,),
    nodes=("storage-1",),
    budget: int = 1000,
    ttl_ms: int = 60_000,
    now: int = NOW,
) -> ticket_pb2.SignedTicket:
    return tickets.issue(
        issuer,
        issuer_id,
        holder_public_key=holder.public_bytes,
        actions=actions,
        chunk_ids=chunks,
        node_ids=nodes,
        byte_budget=budget,
        ttl_ms=ttl_ms,
        payer="payer-address",
        file_id="f" * 32,
        now=now,
    )


def admit(
    proof,
    *,
    method="PutChunk",
    action=PUT,
    node="storage-1",
    chunk=CHUNK,
    fields=(CHUNK, "10"),
    now=NOW + 1000,
):
    return tickets.admit(
        proof,
        ADMISSION,
        method=method,
        action=action,
        node_id=node,
        chunk_id=chunk,
        fields=fields,
        now=now,
    )


def test_a_ticket_used_by_its_holder_at_its_node_for_its_chunk_is_admitted():
    signed = ticket()
    t = admit(Bearer(ALICE, signed).prove("PutChunk", "storage-1", CHUNK, "10"))
    assert t.issuer_node_id == "index-0" and t.payer == "payer-address"
    assert t.holder_public_key == ALICE.public_bytes and t.byte_budget == 1000
    assert len(t.ticket_id) == 16 and t.chunk_ids == {CHUNK}


def test_no_ticket_is_refused_in_one_sentence():
    with pytest.raises(TicketRefused, match="PutChunk needs a ticket from a meta node"):
        admit(None)
    with pytest.raises(TicketRefused, match="needs a ticket"):
        admit(ticket_pb2.TicketProof())


def test_an_expired_ticket_is_refused():
    proof = Bearer(ALICE, ticket(ttl_ms=5_000)).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="the ticket expired"):
        admit(proof, now=NOW + 5_000)


def test_a_ticket_dated_in_the_future_is_refused():
    proof = Bearer(ALICE, ticket(now=NOW + 10 * 60_000)).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="dated in the future"):
        admit(proof)


@pytest.mark.parametrize(
    ("issuer", "issuer_id", "fragment"),
    [
        (ROGUE, "rogue-index", "'rogue-index' is not an admitted meta node"),
        (STORE, "storage-1", "'storage-1' is not an admitted meta node"),  # admitted, not meta
        (ROGUE, "index-0", "not signed by index-0's key"),  # a meta node's name, another key
    ],
)
def test_a_ticket_not_signed_by_an_admitted_meta_node_is_refused(issuer, issuer_id, fragment):
    proof = Bearer(ALICE, ticket(issuer=issuer, issuer_id=issuer_id)).prove(
        "PutChunk", "storage-1", CHUNK, "10"
    )
    with pytest.raises(TicketRefused, match=fragment):
        admit(proof)


def test_without_an_admission_list_every_ticket_is_refused():
    proof = Bearer(ALICE, ticket()).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="not an admitted meta node"):
        tickets.admit(
            proof,
            None,
            method="PutChunk",
            action=PUT,
            node_id="storage-1",
            chunk_id=CHUNK,
            fields=(CHUNK, "10"),
            now=NOW,
        )


def test_a_tampered_ticket_is_refused():
    signed = ticket()
    body = ticket_pb2.Ticket.FromString(signed.ticket)
    body.byte_budget = 1 << 40
    forged = ticket_pb2.SignedTicket(
        ticket=body.SerializeToString(deterministic=True), signature=signed.signature
    )
    proof = Bearer(ALICE, forged).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="not signed by index-0's key"):
        admit(proof)
    garbage = ticket_pb2.SignedTicket(ticket=b"\xff\xff\xff", signature=signed.signature)
    with pytest.raises(TicketRefused, match="does not parse"):
        admit(ticket_pb2.TicketProof(ticket=garbage, signature=b"x"))


def test_a_ticket_for_another_chunk_is_refused():
    proof = Bearer(ALICE, ticket(chunks=(OTHER,))).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match=f"does not cover chunk {CHUNK}"):
        admit(proof)


def test_a_ticket_for_another_node_is_refused():
    proof = Bearer(ALICE, ticket(nodes=("storage-2",))).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="not for the storage node storage-1"):
        admit(proof)


def test_a_ticket_for_another_action_is_refused():
    proof = Bearer(ALICE, ticket(actions=(GET,))).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="does not allow put"):
        admit(proof)


def test_a_stolen_ticket_is_useless_without_its_holders_key():
    stolen = ticket()  # read off the wire, or handed to a storage node
    proof = Bearer(MALLORY, stolen).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="not signed by the ticket's holder"):
        admit(proof)


def test_a_signed_request_cannot_be_replayed_for_other_fields_or_at_another_node():
    signed = ticket(nodes=("storage-1", "storage-2"))
    proof = Bearer(ALICE, signed).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="not signed by the ticket's holder"):
        admit(proof, node="storage-2")  # replayed at another holder
    with pytest.raises(TicketRefused, match="not signed by the ticket's holder"):
        admit(proof, fields=(CHUNK, "999999"))  # a bigger size
    with pytest.raises(TicketRefused, match="not signed by the ticket's holder"):
        admit(proof, method="GetChunk", action=PUT)


def test_only_a_meta_node_may_delete_or_list_even_with_a_ticket_saying_so():
    signed = ticket(actions=(DELETE, LIST))
    proof = Bearer(ALICE, signed).prove("DeleteChunk", "storage-1", CHUNK)
    with pytest.raises(TicketRefused, match="only a meta node may delete chunks"):
        admit(proof, method="DeleteChunk", action=DELETE, fields=(CHUNK,))


def test_a_meta_nodes_own_ticket_without_chunks_covers_any_chunk():
    own = ticket(holder=META, actions=(DELETE, LIST, GET), chunks=())
    proof = Bearer(META, own).prove("DeleteChunk", "storage-1", OTHER)
    assert admit(proof, method="DeleteChunk", action=DELETE, chunk=OTHER, fields=(OTHER,))
    listing = Bearer(META, own).prove("ListChunks", "storage-1", "", "0")
    assert admit(listing, method="ListChunks", action=LIST, chunk=None, fields=("", "0"))


def test_a_client_ticket_without_chunks_covers_none():
    proof = Bearer(ALICE, ticket(chunks=())).prove("PutChunk", "storage-1", CHUNK, "10")
    with pytest.raises(TicketRefused, match="does not cover chunk"):
        admit(proof)


def test_bytes_past_the_budget_are_refused_and_a_refund_gives_them_back():
    t = admit(Bearer(ALICE, ticket(budget=100)).prove("PutChunk", "storage-1", CHUNK, "10"))
    usage = tickets.Usage()
    usage.charge(t, 60, NOW)
    with pytest.raises(TicketRefused, match="allows 100 bytes at this node; 60 are used"):
        usage.charge(t, 41, NOW)
    usage.refund(t, 60)
    usage.charge(t, 100, NOW)
    assert usage.used(t.ticket_id) == 100


def test_usage_tracks_a_bounded_number_of_open_tickets():
    usage = tickets.Usage(max_tickets=2)
    opened = [
        admit(Bearer(ALICE, ticket(ttl_ms=ttl)).prove("PutChunk", "storage-1", CHUNK, "10"))
        for ttl in (2_000, 60_000, 60_000)
    ]
    usage.charge(opened[0], 1, NOW)
    usage.charge(opened[1], 1, NOW)
    with pytest.raises(TicketRefused, match="too many open tickets"):
        usage.charge(opened[2], 1, NOW + 1_000)
    usage.charge(opened[2], 1, NOW + 3_000)  # the first one expired: its slot is free


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"chunks": [f"{i:064x}" for i in range(tickets.MAX_CHUNKS + 1)]}, "more than 256"),
        ({"nodes": [f"s-{i}" for i in range(tickets.MAX_NODES + 1)]}, "no storage node"),
        ({"nodes": ()}, "no storage node"),
        ({"actions": ()}, "no known action"),
        ({"ttl_ms": tickets.MAX_TTL_MS + 1}, "lifetime"),
    ],
)
def test_the_index_never_signs_a_ticket_a_storage_node_would_refuse(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        ticket(**kwargs)


def test_an_oversized_ticket_is_refused_before_parsing():
    big = ticket_pb2.SignedTicket(ticket=b"\x00" * (tickets.MAX_TICKET_BYTES + 1))
    with pytest.raises(TicketRefused, match="larger than"):
        admit(ticket_pb2.TicketProof(ticket=big, signature=b""))


def test_an_ask_names_the_key_that_signed_it_and_nothing_else():
    subject = tickets.place_subject([(CHUNK, 10)])
    req = tickets.ask(ALICE, "PlaceChunks", subject, now=NOW)
    assert tickets.check_ask(req, "PlaceChunks", subject, NOW + 1000) == ALICE.public_bytes
    with pytest.raises(TicketRefused, match="signature does not match"):
        tickets.check_ask(req, "PlaceChunks", tickets.place_subject([(OTHER, 10)]), NOW)
    with pytest.raises(TicketRefused, match="signature does not match"):
        tickets.check_ask(req, "GetManifest", subject, NOW)
    with pytest.raises(TicketRefused, match="more than 5 minutes"):
        tickets.check_ask(req, "PlaceChunks", subject, NOW + 6 * 60_000)
    req.holder_public_key = MALLORY.public_bytes  # claims another key
    with pytest.raises(TicketRefused, match="signature does not match"):
        tickets.check_ask(req, "PlaceChunks", subject, NOW)
