"""Proof-of-Traffic receipts (stratos.common.receipts): a storage node is paid only for what the
ticket's holder signed, on a ticket an admitted meta node issued, within that ticket."""

from __future__ import annotations

import pytest
from test_tickets import ADMISSION, ALICE, CHUNK, GET, MALLORY, META, NOW, OTHER, PUT, STORE, ticket

from stratos.common import receipts
from stratos.common.receipts import ReceiptRefused
from stratos.v1 import receipt_pb2

NODE = "storage-1"


def signed(t=None, *, who=ALICE, chunk=CHUNK, node=NODE, action=PUT, nbytes=500, serial=0):
    t = t or ticket()
    return t, receipts.sign(
        who, t, chunk_id=chunk, node_id=node, action=action, nbytes=nbytes, serial=serial
    )


def check(t, r, *, node=NODE, now=NOW):
    return receipts.check(r, receipts.tickets_by_id([t]), ADMISSION, node_id=node, now=now)


def test_a_receipt_signed_by_the_holder_within_its_ticket_is_paid() -> None:
    t, r = signed()
    c = check(t, r)
    assert (c.chunk_id, c.node_id, c.action, c.nbytes) == (CHUNK, NODE, PUT, 500)
    assert c.ticket.payer == "payer-address"
    assert c.key == receipts.receipt_key(r)
    # a second receipt for the same chunk is a different receipt only with another serial
    assert check(*signed(t, serial=1)).key != c.key
    assert check(*signed(t)).key == c.key


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: signed(who=MALLORY), "not signed by its ticket's holder"),
        (lambda: signed(who=STORE), "not signed by its ticket's holder"),  # the node itself
        (lambda: signed(node="storage-2"), "not storage-1"),
        (lambda: signed(chunk=OTHER), "does not cover chunk"),
        (lambda: signed(action=GET), "action its ticket does not allow"),
        (lambda: signed(nbytes=1001), "its ticket allows 1 to 1000"),
        (lambda: signed(nbytes=0), "its ticket allows 1 to 1000"),
        (lambda: signed(ticket(issuer=MALLORY)), "ticket is refused"),
        (lambda: signed(ticket(chunks=())), "does not cover chunk"),
    ],
)
def test_what_a_node_cannot_be_paid_for(make, match) -> None:
    t, r = make()
    with pytest.raises(ReceiptRefused, match=match):
        check(t, r)


def test_a_node_cannot_change_what_the_holder_signed() -> None:
    t, r = signed(nbytes=10)
    body = receipt_pb2.Receipt.FromString(r.receipt)
    body.bytes = 1000  # inflated
    forged = receipt_pb2.SignedReceipt(receipt=body.SerializeToString(), signature=r.signature)
    with pytest.raises(ReceiptRefused, match="not signed by its ticket's holder"):
        check(t, forged)


def test_a_receipt_for_another_nodes_ticket_or_a_missing_ticket_is_refused() -> None:
    _, r = signed()
    other = ticket(nodes=("storage-2",))
    with pytest.raises(ReceiptRefused, match="does not come with it"):
        receipts.check(r, receipts.tickets_by_id([other]), ADMISSION, node_id=NODE, now=NOW)
    # a receipt for storage-2 presented by storage-1
    t2, r2 = signed(other, node="storage-2")
    with pytest.raises(ReceiptRefused, match="not storage-1"):
        check(t2, r2)


def test_an_expired_ticket_pays_only_within_the_grace_period() -> None:
    t, r = signed(ticket(ttl_ms=60_000))
    check(t, r, now=NOW + 60_000 + receipts.GRACE_MS - 1)
    with pytest.raises(ReceiptRefused, match="expired"):
        check(t, r, now=NOW + 60_000 + receipts.GRACE_MS)


def test_garbage_is_refused_with_a_reason() -> None:
    t = ticket()
    for bad, match in (
        (receipt_pb2.SignedReceipt(receipt=b"\xff\xff", signature=b"x" * 64), "does not parse"),
        (receipt_pb2.SignedReceipt(receipt=b"", signature=b"x"), "64-byte signature"),
        (receipt_pb2.SignedReceipt(receipt=b"x" * 600, signature=b"x" * 64), "larger than"),
    ):
        with pytest.raises(ReceiptRefused, match=match):
            check(t, bad)
    assert META  # the issuer every good ticket here names
