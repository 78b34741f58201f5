"""Tickets: the only way a storage node moves, lists, audits or deletes chunks for someone.

A storage node cannot tell a file's owner from a stranger, so it trusts the meta (index) nodes
that can: an admitted meta node signs a short-lived `Ticket` for a caller it authenticated (the
writer's or reader's signature over what it asks for, `TicketAsk`), naming what it allows —
the holder's key, the payer, the actions, the chunks, the storage nodes, a byte budget per node
and an expiry. Each storage request then carries the ticket and the holder's signature over
that request at that node (`TicketProof`), so a ticket read off the wire, leaked in a log or
handed to a storage node cannot be spent by anyone else, nor replayed at another node or for
another chunk. A meta node's own work (audits, garbage collection) runs on tickets it issues to
itself; DELETE, LIST and AUDIT are allowed only to a ticket an admitted meta node holds.

The ticket is also what the incentive work charges (issue 13): its id is what ozone is reserved
under and receipts are signed against; `payer` is the wallet address charged ("" = the network
pays: repair, audit, GC); `byte_budget` times the number of `node_ids` bounds what it can cost.

Pure given a clock: `issue`/`open_ticket`/`admit` for tickets, `prove`/`request_bytes` for
requests, `ask`/`check_ask` for the caller's proof to the index, `Usage` for budgets. Every
refusal is a `TicketRefused` (PERMISSION_DENIED) with one sentence.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from stratos.common.admission import Admission
from stratos.common.errors import PermissionDenied
from stratos.common.identity import Identity, verify
from stratos.v1 import auth_pb2, ticket_pb2

DOMAIN = b"stratos.ticket.v1\x00"
USE_DOMAIN = b"stratos.ticket-use.v1\x00"
ASK_DOMAIN = b"stratos.ticket-ask.v1\x00"
MAX_CHUNKS = 256  # chunk IDs one ticket lists (a read of a bigger file gets several tickets)
MAX_NODES = 64  # storage nodes one ticket may be used at
MAX_TTL_MS = 2 * 60 * 60 * 1000
MAX_TICKET_BYTES = MAX_CHUNKS * 70 + MAX_NODES * 70 + 512
SKEW_MS = 30_000  # how far the issuer's clock may run ahead of a storage node's
ASK_SKEW_MS = 5 * 60 * 1000  # how far a caller's signing time may be from the index's clock
META_ONLY = frozenset(
    {
        ticket_pb2.TICKET_ACTION_DELETE,
        ticket_pb2.TICKET_ACTION_LIST,
        ticket_pb2.TICKET_ACTION_AUDIT,
    }
)
ACTION_NAMES = {
    ticket_pb2.TICKET_ACTION_PUT: "put",
    ticket_pb2.TICKET_ACTION_GET: "get",
    ticket_pb2.TICKET_ACTION_DELETE: "delete",
    ticket_pb2.TICKET_ACTION_LIST: "list",
    ticket_pb2.TICKET_ACTION_AUDIT: "audit",
}


class TicketRefused(PermissionDenied):
    """A ticket, or a request made with one, that a storage node or the index refuses."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Ticket:
    """An opened, verified ticket."""

    ticket_id: bytes
    issuer_node_id: str
    holder_public_key: bytes
    payer: str
    actions: frozenset[int]
    chunk_ids: frozenset[str]
    node_ids: frozenset[str]
    byte_budget: int
    issued_unix_ms: int
    expires_unix_ms: int
    file_id: str
    signature: bytes  # the issuer's: what each request signature covers


def issue(
    issuer: Identity,
    issuer_node_id: str,
    *,
    holder_public_key: bytes,
    actions: Iterable[int],
    node_ids: Iterable[str],
    byte_budget: int,
    ttl_ms: int,
    chunk_ids: Iterable[str] = (),
    payer: str = "",
    file_id: str = "",
    now: int | None = None,
) -> ticket_pb2.SignedTicket:
    """A SignedTicket from `issuer`; refuses (ValueError) one a storage node would refuse."""
    issued = now_ms() if now is None else now
    ticket = ticket_pb2.Ticket(
        ticket_id=secrets.token_bytes(16),
        issuer_node_id=issuer_node_id,
        holder_public_key=holder_public_key,
        payer=payer,
        actions=sorted(set(actions)),
        chunk_ids=sorted(set(chunk_ids)),
        node_ids=sorted(set(node_ids)),
        byte_budget=byte_budget,
        issued_unix_ms=issued,
        expires_unix_ms=issued + ttl_ms,
        file_id=file_id,
    )
    body = ticket.SerializeToString(deterministic=True)
    problem = _shape_problem(ticket, len(body))
    if problem:
        raise ValueError(problem)
    return ticket_pb2.SignedTicket(ticket=body, signature=issuer.sign(DOMAIN + body))


def _shape_problem(t: ticket_pb2.Ticket, size: int) -> str:
    if size > MAX_TICKET_BYTES:
        return f"the ticket is larger than {MAX_TICKET_BYTES} bytes"
    if len(t.ticket_id) != 16:
        return "the ticket has no 16-byte ID"
    if len(t.holder_public_key) != 32:
        return "the ticket names no 32-byte holder key"
    if not t.actions or any(a not in ACTION_NAMES for a in t.actions):
        return "the ticket allows no known action"
    if len(t.chunk_ids) > MAX_CHUNKS:
        return f"the ticket lists more than {MAX_CHUNKS} chunks"
    if not t.node_ids or len(t.node_ids) > MAX_NODES:
        return f"the ticket names no storage node (or more than {MAX_NODES})"
    if not 0 < t.expires_unix_ms - t.issued_unix_ms <= MAX_TTL_MS:
        return "the ticket's lifetime is not between 0 and 2 hours"
    return ""


def parse(signed: ticket_pb2.SignedTicket) -> ticket_pb2.Ticket:
    """The Ticket inside `signed`, unverified (a client reads its expiry and chunks)."""
    if len(signed.ticket) > MAX_TICKET_BYTES:
        raise TicketRefused(f"the ticket is larger than {MAX_TICKET_BYTES} bytes")
    try:
        return ticket_pb2.Ticket.FromString(signed.ticket)
    except DecodeError:
        raise TicketRefused("the ticket does not parse") from None


def open_ticket(
    signed: ticket_pb2.SignedTicket,
    admission: Admission | None,
    now: int,
    skew_ms: int = SKEW_MS,
    grace_ms: int = 0,
) -> Ticket:
    """The verified ticket: signed by a node admitted as meta, well formed, not expired (or
    expired less than `grace_ms` ago: receipts for its transfers may follow it)."""
    t = parse(signed)
    problem = _shape_problem(t, len(signed.ticket))
    if problem:
        raise TicketRefused(problem)
    key = admission.key_of(t.issuer_node_id, auth_pb2.MESH_ROLE_META) if admission else None
    if key is None:
        raise TicketRefused(
            f"the ticket's issuer {t.issuer_node_id[:80]!r} is not an admitted meta node"
        )
    if not verify(key, signed.signature, DOMAIN + signed.ticket):
        raise TicketRefused(f"the ticket is not signed by {t.issuer_node_id}'s key")
    if t.expires_unix_ms + grace_ms <= now:
        raise TicketRefused(f"the ticket expired {now - t.expires_unix_ms} ms ago")
    if t.issued_unix_ms > now + skew_ms:
        raise TicketRefused("the ticket is dated in the future")
    return Ticket(
        ticket_id=bytes(t.ticket_id),
        issuer_node_id=t.issuer_node_id,
        holder_public_key=bytes(t.holder_public_key),
        payer=t.payer,
        actions=frozenset(t.actions),
        chunk_ids=frozenset(t.chunk_ids),
        node_ids=frozenset(t.node_ids),
        byte_budget=t.byte_budget,
        issued_unix_ms=t.issued_unix_ms,
        expires_unix_ms=t.expires_unix_ms,
        file_id=t.file_id,
        signature=bytes(signed.signature),
    )


# -- requests made with a ticket --------------------------------------------------------------


def request_bytes(
    ticket_signature: bytes, method: str, node_id: str, fields: Sequence[str]
) -> bytes:
    """What the holder signs for one request: the ticket, the method, the storage node and the
    request's own fields (chunk ID, size, range, ...), so the signature fits nowhere else."""
    return b"".join(
        (
            USE_DOMAIN,
            ticket_signature,
            b"\x00",
            method.encode(),
            b"\x00",
            node_id.encode(),
            b"\x00",
            "\x00".join(fields).encode(),
        )
    )


def audit_fields(chunk_id: str, nonce: bytes, ranges: Iterable[tuple[int, int]]) -> tuple[str, ...]:
    """An Audit request's signed fields (the other methods sign their scalar fields as text)."""
    return (chunk_id, nonce.hex(), ",".join(f"{o}+{n}" for o, n in ranges))


@dataclass(frozen=True)
class Bearer:
    """A ticket and the key it names: makes the proof each request carries."""

    identity: Identity
    ticket: ticket_pb2.SignedTicket

    def prove(self, method: str, node_id: str, *fields: str) -> ticket_pb2.TicketProof:
        sig = self.identity.sign(request_bytes(self.ticket.signature, method, node_id, fields))
        return ticket_pb2.TicketProof(ticket=self.ticket, signature=sig)


def admit(
    proof: ticket_pb2.TicketProof | None,
    admission: Admission | None,
    *,
    method: str,
    action: int,
    node_id: str,
    chunk_id: str | None,
    fields: Sequence[str],
    now: int,
) -> Ticket:
    """The ticket under which `method` may run at `node_id` (for `chunk_id`, when it names
    one); raises TicketRefused with one sentence otherwise."""
    if proof is None or not proof.ticket.ticket:
        raise TicketRefused(f"{method} needs a ticket from a meta node of this mesh")
    t = open_ticket(proof.ticket, admission, now)
    if not verify(
        t.holder_public_key, proof.signature, request_bytes(t.signature, method, node_id, fields)
    ):
        raise TicketRefused(f"the {method} request is not signed by the ticket's holder")
    if action not in t.actions:
        raise TicketRefused(f"the ticket does not allow {ACTION_NAMES.get(action, '?')}")
    if node_id not in t.node_ids:
        raise TicketRefused(f"the ticket is not for the storage node {node_id}")
    holder = admission.member_by_key(t.holder_public_key) if admission else None
    by_meta = holder is not None and holder.role == auth_pb2.MESH_ROLE_META
    if action in META_ONLY and not by_meta:
        raise TicketRefused(f"only a meta node may {ACTION_NAMES[action]} chunks")
    # An empty chunk list is "any chunk", and only on a meta node's own ticket.
    if chunk_id is not None and chunk_id not in t.chunk_ids and (t.chunk_ids or not by_meta):
        raise TicketRefused(f"the ticket does not cover chunk {chunk_id[:80]}")
    return t


# -- the caller's proof to the index ----------------------------------------------------------


def ask_bytes(method: str, unix_ms: int, subject: str) -> bytes:
    return b"".join(
        (ASK_DOMAIN, method.encode(), b"\x00", str(unix_ms).encode(), b"\x00", subject.encode())
    )


def ask(
    identity: Identity, method: str, subject: str, now: int | None = None
) -> ticket_pb2.TicketAsk:
    """`identity`'s request for tickets about `subject` (what `method` names)."""
    t = now_ms() if now is None else now
    return ticket_pb2.TicketAsk(
        holder_public_key=identity.public_bytes,
        unix_ms=t,
        signature=identity.sign(ask_bytes(method, t, subject)),
    )


def check_ask(req: ticket_pb2.TicketAsk, method: str, subject: str, now: int) -> bytes:
    """The key that asked, when it signed this ask recently; TicketRefused otherwise."""
    if len(req.holder_public_key) != 32:
        raise TicketRefused("the ticket request names no 32-byte public key")
    if abs(now - req.unix_ms) > ASK_SKEW_MS:
        raise TicketRefused(
            f"the ticket request was signed at unix_ms {req.unix_ms}, more than 5 minutes "
            "from the index clock"
        )
    if not verify(req.holder_public_key, req.signature, ask_bytes(method, req.unix_ms, subject)):
        raise TicketRefused("the ticket request's signature does not match its public key")
    return bytes(req.holder_public_key)


def place_subject(chunks: Iterable[tuple[str, int]]) -> str:
    """The subject a writer signs when it asks to place `chunks` (ID, size)."""
    return ",".join(f"{cid}:{size}" for cid, size in chunks)


class Usage:
    """Bytes moved under each ticket at one storage node, kept until the ticket expires, so a
    ticket moves at most its `byte_budget` here however often it is presented. Bounded: at most
    `max_tickets` open tickets are tracked; past that a new one is refused until some expire."""

    def __init__(self, max_tickets: int = 100_000) -> None:
        self.max_tickets = max_tickets
        self._used: dict[bytes, tuple[int, int]] = {}  # ticket id → (bytes, expires_unix_ms)

    def charge(self, t: Ticket, n: int, now: int) -> None:
        used, _ = self._used.get(t.ticket_id, (0, t.expires_unix_ms))
        if used + n > t.byte_budget:
            raise TicketRefused(
                f"the ticket allows {t.byte_budget} bytes at this node; {used} are used "
                f"and this request needs {n}"
            )
        if t.ticket_id not in self._used and len(self._used) >= self.max_tickets:
            self._used = {k: v for k, v in self._used.items() if v[1] > now}
            if len(self._used) >= self.max_tickets:
                raise TicketRefused("this node tracks too many open tickets; try again shortly")
        self._used[t.ticket_id] = (used + n, t.expires_unix_ms)

    def refund(self, t: Ticket, n: int) -> None:
        """Give back bytes a request was charged but never moved (a failed upload)."""
        used, expires = self._used.get(t.ticket_id, (0, 0))
        if used:
            self._used[t.ticket_id] = (max(0, used - n), expires)

    def used(self, ticket_id: bytes) -> int:
        return self._used.get(ticket_id, (0, 0))[0]
