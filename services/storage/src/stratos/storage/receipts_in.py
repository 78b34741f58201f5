"""The storage node's side of Proof-of-Traffic: taking the receipts it earned and handing them
to the incentive service.

A client hands over receipts for bytes this node moved (`SubmitReceipts`). The node checks each
with `stratos.common.receipts.check` — the same rules the incentive service applies again, since
it trusts no node — and refuses the whole call with the first reason when one is bad (a client
only sends receipts it signed, so a bad one is a bug or an attack, and nothing of it is kept).
The good ones go out as one `ReceiptBatch` on this node's own receipts subject, with only the
tickets they name, signed by this node, and the call is answered only once JetStream has stored
it: a receipt acknowledged to the client is not lost if this node dies the next moment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stratos.common import receipts, tickets
from stratos.common.admission import Admission
from stratos.common.errors import InvalidArgument
from stratos.common.nats_subjects import RECEIPTS_SUBJECT
from stratos.v1 import receipt_pb2

Publish = Callable[[str, bytes], Awaitable[None]]  # stored publish: returns once JetStream has it


class ReceiptDesk:
    def __init__(
        self,
        admission: Callable[[], Admission | None],
        node_id: str,
        publish: Publish,
        *,
        clock_ms: Callable[[], int] = tickets.now_ms,
    ) -> None:
        self._admission, self.node_id, self._publish, self._clock = (
            admission,
            node_id,
            publish,
            clock_ms,
        )

    async def submit(self, request: receipt_pb2.SubmitReceiptsRequest) -> int:
        """Check and hand on `request`'s receipts; the number handed on."""
        if not request.receipts:
            return 0
        if len(request.receipts) > receipts.MAX_BATCH:
            raise InvalidArgument(
                f"a SubmitReceipts call carries at most {receipts.MAX_BATCH} receipts, "
                f"not {len(request.receipts)}"
            )
        by_id = receipts.tickets_by_id(list(request.tickets))
        adm, now = self._admission(), self._clock()
        named: set[bytes] = set()
        opened: dict = {}  # each ticket's issuer signature checked once per call
        for signed in request.receipts:
            checked = receipts.check(
                signed, by_id, adm, node_id=self.node_id, now=now, opened=opened
            )
            named.add(checked.ticket.ticket_id)
        batch = receipt_pb2.ReceiptBatch(
            node_id=self.node_id,
            tickets=[by_id[t] for t in sorted(named)],
            receipts=request.receipts,
        )
        await self._publish(
            RECEIPTS_SUBJECT.format(node_id=self.node_id), batch.SerializeToString()
        )
        return len(request.receipts)
