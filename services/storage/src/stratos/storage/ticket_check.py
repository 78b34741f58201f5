"""The storage node's side of tickets: which requests it serves, and how many bytes each
ticket has moved here.

Every PutChunk, GetChunk, DeleteChunk, ListChunks and Audit passes `TicketCheck.admit` before
the disk is touched (the rules are `stratos.common.tickets.admit`'s); puts and gets are then
charged against the ticket's byte budget at this node. The admission list is asked for on every
request (`admission()`), so a meta node removed from the list stops being believed at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stratos.common import tickets
from stratos.common.admission import Admission
from stratos.common.tickets import Ticket, TicketRefused
from stratos.v1 import ticket_pb2

AdmissionSource = Callable[[], Admission | None]


class TicketCheck:
    def __init__(
        self,
        admission: AdmissionSource,
        node_id: str,
        *,
        clock_ms: Callable[[], int] = tickets.now_ms,
        max_tickets: int = 100_000,
    ) -> None:
        self._admission, self.node_id, self._clock = admission, node_id, clock_ms
        self.usage = tickets.Usage(max_tickets)

    def admit(
        self,
        proof: ticket_pb2.TicketProof | None,
        *,
        method: str,
        action: int,
        chunk_id: str | None,
        fields: Sequence[str],
    ) -> Ticket:
        return tickets.admit(
            proof,
            self._admission(),
            method=method,
            action=action,
            node_id=self.node_id,
            chunk_id=chunk_id,
            fields=fields,
            now=self._clock(),
        )

    def charge(self, ticket: Ticket, n: int) -> None:
        self.usage.charge(ticket, n, self._clock())

    def refund(self, ticket: Ticket, n: int) -> None:
        self.usage.refund(ticket, n)


__all__ = ["AdmissionSource", "TicketCheck", "TicketRefused"]
