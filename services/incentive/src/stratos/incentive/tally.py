"""The incentive service's pure core: receipts and audit results in stream order → one report
per epoch.

Every replica reads the same JetStream stream (`STRATOS_TRAFFIC`) in the same order — receipt
batches from storage nodes, audit results from meta nodes, and one mark per epoch end — and
feeds it here with each message's stored time; at an epoch's mark it closes the tally as that
epoch's report. Nothing in here reads a clock or the network,
so every replica that feeds the same messages computes byte-identical reports, and their
signatures over its digest agree.

A receipt counts once, at the node that earned it, toward the bytes of that node and the ozone
of its ticket's payer (none for the network's own traffic: repair), when
`stratos.common.receipts.check` takes it at its stored time and:

- the batch comes from that node (the storage node that published it is the one paid);
- the same receipt was not counted before (`seen`, kept per ticket until the ticket's grace
  period ended, so memory follows the open tickets, not the history);
- the ticket's bytes at that node, with this receipt, stay within the ticket's byte budget.

Audit results count against a node only for what it did to the data (wrong digest, chunk
missing or corrupt, challenge refused); an unreachable node is the failure detector's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stratos.common import receipts
from stratos.common.admission import Admission
from stratos.common.errors import StratosError
from stratos.common.identity import address_of
from stratos.common.shown import shown
from stratos.common.stos import is_address
from stratos.v1 import auth_pb2, events_pb2, ledger_pb2, receipt_pb2

SLASHABLE = frozenset({"wrong digest", "chunk missing", "chunk corrupt", "challenge refused"})


@dataclass
class Refusal:
    node_id: str
    reason: str


@dataclass
class EpochCounts:
    bytes_by_node: dict[str, int] = field(default_factory=dict)  # ledger address → bytes
    ozone_by_payer: dict[str, int] = field(default_factory=dict)
    audits_failed: dict[str, int] = field(default_factory=dict)  # ledger address → failures
    receipts: int = 0


@dataclass
class _Open:
    """A ticket whose receipts may still arrive: what was counted under it."""

    expires_unix_ms: int
    seen: set[bytes] = field(default_factory=set)
    used: dict[str, int] = field(default_factory=dict)  # storage node → bytes


class Tally:
    """The open epoch's counts (see module docstring)."""

    def __init__(self, admission: Callable[[], Admission | None]) -> None:
        self._admission = admission
        self.counts = EpochCounts()
        self._open: dict[bytes, _Open] = {}
        # tickets whose issuer signature was verified, by signature; emptied at each close, so
        # an issuer the admission list dropped is not believed for more than an epoch
        self._verified: dict = {}

    def _address(self, node_id: str, role: int) -> str | None:
        adm = self._admission()
        key = adm.key_of(node_id, role) if adm is not None else None
        return address_of(key) if key is not None else None

    def add_receipts(self, batch: receipt_pb2.ReceiptBatch, stored_ms: int) -> list[Refusal]:
        """Count a storage node's batch; returns why each refused receipt was refused."""
        node_address = self._address(batch.node_id, auth_pb2.MESH_ROLE_STORAGE)
        if node_address is None:
            n = len(batch.receipts)
            return [Refusal(shown(batch.node_id), "not an admitted storage node")] * n
        if len(batch.receipts) > receipts.MAX_BATCH:
            return [Refusal(batch.node_id, f"more than {receipts.MAX_BATCH} receipts")]
        by_id = receipts.tickets_by_id(list(batch.tickets))
        refused: list[Refusal] = []
        adm = self._admission()
        for signed in batch.receipts:
            try:
                c = receipts.check(
                    signed,
                    by_id,
                    adm,
                    node_id=batch.node_id,
                    now=stored_ms,
                    opened=self._verified,
                )
            except StratosError as err:
                refused.append(Refusal(batch.node_id, err.message))
                continue
            why = self._count(c, node_address)
            if why:
                refused.append(Refusal(batch.node_id, why))
        self._forget_closed(stored_ms)
        return refused

    def _count(self, c: receipts.Checked, node_address: str) -> str:
        t = c.ticket
        if t.payer and not is_address(t.payer):
            return "the ticket's payer is not a wallet address"
        held = self._open.setdefault(t.ticket_id, _Open(t.expires_unix_ms))
        if c.key in held.seen:
            return "the receipt was already counted"
        used = held.used.get(c.node_id, 0)
        if used + c.nbytes > t.byte_budget:
            return (
                f"the ticket's receipts at {c.node_id} add up to more than its budget of "
                f"{t.byte_budget} bytes"
            )
        held.seen.add(c.key)
        held.used[c.node_id] = used + c.nbytes
        n = self.counts
        n.bytes_by_node[node_address] = n.bytes_by_node.get(node_address, 0) + c.nbytes
        if t.payer:
            n.ozone_by_payer[t.payer] = n.ozone_by_payer.get(t.payer, 0) + c.nbytes
        n.receipts += 1
        return ""

    def _forget_closed(self, now_ms: int) -> None:
        """Drop tickets whose receipts can no longer be taken (check refuses them by then)."""
        if len(self._open) < 1024:
            return
        limit = now_ms - receipts.GRACE_MS
        self._open = {k: v for k, v in self._open.items() if v.expires_unix_ms > limit}

    def add_audit(self, result: events_pb2.AuditResult) -> None:
        """Count a failed audit against its node (only failures of the data itself)."""
        if result.passed or result.reason not in SLASHABLE:
            return
        address = self._address(result.node_id, auth_pb2.MESH_ROLE_STORAGE)
        if address is not None:
            failed = self.counts.audits_failed
            failed[address] = failed.get(address, 0) + 1

    def close(self, epoch: int) -> ledger_pb2.EpochReport:
        """What was counted since the last close, as epoch `epoch`'s report (unsigned, entries
        sorted); counting starts again from nothing."""
        n = self.counts
        report = ledger_pb2.EpochReport(epoch=epoch)
        for address in sorted(n.bytes_by_node.keys() | n.audits_failed.keys()):
            report.traffic.add(
                node=address,
                bytes=n.bytes_by_node.get(address, 0),
                audits_failed=n.audits_failed.get(address, 0),
            )
        for payer, ozone in sorted(n.ozone_by_payer.items()):
            report.payers.add(payer=payer, ozone=ozone)
        self.counts = EpochCounts()
        self._verified = {}
        return report
