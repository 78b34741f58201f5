"""Proof-of-Traffic receipts: the paying side's signed word that a storage node moved bytes.

After a chunk moves — once the node's fsync'd ack arrived (put), once the bytes passed their
hash check (get) — the ticket's holder signs a `Receipt` (ticket ID, chunk, node, action,
bytes, serial) and hands it to that node (`StorageService.SubmitReceipts`). The node publishes
it to the incentive service, which pays it per epoch. A receipt is worth something only when:

- its ticket was signed by an admitted meta node and had not expired (more than `GRACE_MS`
  before the receipt was stored: receipts are sent in batches, after the transfer);
- it is signed by the ticket's holder key — which only the payer's client has, so a node can
  neither make one nor change one's bytes, node or chunk;
- it names a node, a chunk and an action (put or get) the ticket allows, and bytes within the
  ticket's byte budget at that node (`check`); the incentive service also bounds the sum per
  ticket and node by that budget and refuses a receipt stored twice (`receipt_key`).

`serial` lets one client sign two receipts for the same chunk at the same node (a retry, two
range reads) that are still different receipts; the byte budget bounds what they can add up to.
Pure given a clock; refusals are `ReceiptRefused` (PERMISSION_DENIED) with one sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from blake3 import blake3
from google.protobuf.message import DecodeError

from stratos.common import tickets
from stratos.common.admission import Admission
from stratos.common.errors import PermissionDenied
from stratos.common.identity import Identity, verify
from stratos.common.shown import shown
from stratos.v1 import receipt_pb2, ticket_pb2

DOMAIN = b"stratos.receipt.v1\x00"
GRACE_MS = 30 * 60 * 1000  # how long after its ticket expired a receipt is still taken
MAX_RECEIPT_BYTES = 512
MAX_BATCH = 4_096  # receipts in one SubmitReceipts call or one published batch
MAX_OPENED = 100_000  # verified tickets a cache keeps (cleared whole when full)
PAID_ACTIONS = frozenset({ticket_pb2.TICKET_ACTION_PUT, ticket_pb2.TICKET_ACTION_GET})


class ReceiptRefused(PermissionDenied):
    """A receipt no one is paid for, with the reason."""


def signed_bytes(ticket_signature: bytes, receipt: bytes) -> bytes:
    return DOMAIN + ticket_signature + receipt


def sign(
    identity: Identity,
    ticket: ticket_pb2.SignedTicket,
    *,
    chunk_id: str,
    node_id: str,
    action: int,
    nbytes: int,
    serial: int = 0,
) -> receipt_pb2.SignedReceipt:
    """The holder's receipt for `nbytes` of `chunk_id` moved at `node_id` under `ticket`."""
    t = tickets.parse(ticket)
    body = receipt_pb2.Receipt(
        ticket_id=t.ticket_id,
        chunk_id=chunk_id,
        node_id=node_id,
        action=action,
        bytes=nbytes,
        serial=serial,
    ).SerializeToString(deterministic=True)
    return receipt_pb2.SignedReceipt(
        receipt=body, signature=identity.sign(signed_bytes(ticket.signature, body))
    )


def receipt_key(signed: receipt_pb2.SignedReceipt) -> bytes:
    """What makes a receipt the same receipt: its exact signed bytes."""
    return blake3(signed.receipt + signed.signature).digest()[:16]


@dataclass(frozen=True)
class Checked:
    """A receipt that passed `check`, with its ticket."""

    ticket: tickets.Ticket
    chunk_id: str
    node_id: str
    action: int
    nbytes: int
    key: bytes  # receipt_key


def _parse(signed: receipt_pb2.SignedReceipt) -> receipt_pb2.Receipt:
    if len(signed.receipt) > MAX_RECEIPT_BYTES:
        raise ReceiptRefused(f"the receipt is larger than {MAX_RECEIPT_BYTES} bytes")
    if len(signed.signature) != 64:
        raise ReceiptRefused("the receipt carries no 64-byte signature")
    try:
        return receipt_pb2.Receipt.FromString(signed.receipt)
    except DecodeError:
        raise ReceiptRefused("the receipt does not parse") from None


def check(
    signed: receipt_pb2.SignedReceipt,
    ticket_by_id: Mapping[bytes, ticket_pb2.SignedTicket],
    admission: Admission | None,
    *,
    node_id: str,
    now: int,
    opened: dict[bytes, tickets.Ticket] | None = None,
) -> Checked:
    """The receipt, verified as worth paying `node_id` for (module docstring), or
    ReceiptRefused with the reason. `opened`: tickets already verified, by their signature (the
    caller's cache; one ticket covers many receipts, so its issuer's signature is checked once
    per cache, its expiry every time)."""
    r = _parse(signed)
    signed_ticket = ticket_by_id.get(bytes(r.ticket_id))
    if signed_ticket is None:
        raise ReceiptRefused("the receipt names a ticket that does not come with it")
    t = opened.get(signed_ticket.signature) if opened is not None else None
    if t is None or t.expires_unix_ms + GRACE_MS <= now:
        try:
            t = tickets.open_ticket(signed_ticket, admission, now, grace_ms=GRACE_MS)
        except tickets.TicketRefused as err:
            raise ReceiptRefused(f"the receipt's ticket is refused: {err.message}") from None
        if opened is not None:
            if len(opened) >= MAX_OPENED:
                opened.clear()
            opened[signed_ticket.signature] = t
    if t.ticket_id != bytes(r.ticket_id):
        raise ReceiptRefused("the receipt's ticket ID is not its ticket's")
    if not verify(t.holder_public_key, signed.signature, signed_bytes(t.signature, signed.receipt)):
        raise ReceiptRefused("the receipt is not signed by its ticket's holder")
    if r.node_id != node_id:
        raise ReceiptRefused(f"the receipt is for the node {shown(r.node_id)}, not {node_id}")
    if r.node_id not in t.node_ids:
        raise ReceiptRefused(f"the ticket is not for the storage node {shown(r.node_id)}")
    if r.action not in PAID_ACTIONS or r.action not in t.actions:
        raise ReceiptRefused("the receipt is for an action its ticket does not allow")
    if not t.chunk_ids or r.chunk_id not in t.chunk_ids:
        raise ReceiptRefused(f"the ticket does not cover chunk {shown(r.chunk_id)}")
    if not 0 < r.bytes <= t.byte_budget:
        raise ReceiptRefused(
            f"the receipt claims {r.bytes} bytes; its ticket allows 1 to {t.byte_budget}"
        )
    return Checked(t, r.chunk_id, r.node_id, r.action, r.bytes, receipt_key(signed))


def tickets_by_id(
    signed_tickets: list[ticket_pb2.SignedTicket] | tuple[ticket_pb2.SignedTicket, ...],
) -> dict[bytes, ticket_pb2.SignedTicket]:
    """The tickets a batch carries, by ID (unparsable ones are left out: their receipts are
    then refused for naming a ticket that does not come with them)."""
    out = {}
    for st in signed_tickets:
        try:
            out[bytes(tickets.parse(st).ticket_id)] = st
        except tickets.TicketRefused:
            continue
    return out
