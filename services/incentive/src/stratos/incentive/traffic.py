"""The traffic stream: where receipts, audit results and epoch marks meet in one order.

`STRATOS_TRAFFIC` captures every storage node's receipt batches (each on its own subject, which
only that node may publish to), the meta nodes' audit results and the incentive replicas' epoch
marks. A replica reads it with an ordered consumer from where its chain still needs it — just
after the mark of the last settled epoch, found in the reports bucket (`mark.<epoch>` → stream
sequence), or from the stream's start — and feeds each message to the `Tally` with the time the
stream stored it. At the first mark of an epoch not yet seen it closes the tally as that epoch's
report; a mark for an epoch the chain already settled closes and drops it. Marks for an epoch
at or below the last one seen are repeats (two replicas marked at once) and are ignored.

Every message must carry its sender's signature (`stratos.common.nats_trust`): receipts from
the storage node its subject names, audits from a meta node, marks from an incentive replica.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import KeyNotFoundError

from stratos.common import natsutil
from stratos.common.logging import get_logger
from stratos.common.nats_subjects import (
    AUDIT_RESULT_SUBJECT,
    EPOCH_MARK_SUBJECT,
    RECEIPTS_SUBJECT,
    RECEIPTS_WILDCARD,
    REPORTS_BUCKET,
    TRAFFIC_STREAM,
)
from stratos.common.nats_trust import Gate, Signer
from stratos.incentive.tally import Tally
from stratos.v1 import auth_pb2, events_pb2, ledger_pb2, receipt_pb2

log = get_logger(__name__)

RECEIPT_PREFIX = RECEIPTS_SUBJECT.format(node_id="")
DEDUP_WINDOW_S = 600.0  # two replicas marking the same epoch within this are stored once
STORAGE = frozenset({auth_pb2.MESH_ROLE_STORAGE})
META = frozenset({auth_pb2.MESH_ROLE_META})
INCENTIVE = frozenset({auth_pb2.MESH_ROLE_INCENTIVE})

OnReport = Callable[[ledger_pb2.EpochReport], Awaitable[None]]


async def ensure_traffic(nc: NATS, *, replicas: int, max_age_s: float):
    """The traffic stream and the reports bucket (created or brought to this config)."""
    js = nc.jetstream()
    await natsutil.ensure_stream(
        js,
        StreamConfig(
            name=TRAFFIC_STREAM,
            subjects=[RECEIPTS_WILDCARD, EPOCH_MARK_SUBJECT, AUDIT_RESULT_SUBJECT],
            storage=StorageType.FILE,
            max_age=max_age_s,
            duplicate_window=DEDUP_WINDOW_S,
            num_replicas=replicas,
        ),
    )
    return await natsutil.ensure_kv(js, REPORTS_BUCKET, replicas=replicas)


def mark_key(epoch: int) -> str:
    return f"mark.{epoch}"


@dataclass
class Position:
    """Where reading starts: the stream sequence, and the last mark before it (None: none)."""

    start_seq: int
    last_mark: int | None


async def starting_position(kv, next_to_settle: int) -> Position:
    """Just after the mark of epoch next_to_settle - 1, when the bucket remembers it."""
    if next_to_settle > 0:
        with contextlib.suppress(KeyNotFoundError):
            entry = await kv.get(mark_key(next_to_settle - 1))
            return Position(int(entry.value.decode()) + 1, next_to_settle - 1)
    return Position(1, None)


class TrafficReader:
    """Reads the stream into `tally` and hands each epoch's report to `on_report`."""

    def __init__(
        self,
        nc: NATS,
        kv,
        tally: Tally,
        gate: Gate,
        on_report: OnReport,
        *,
        settled_below: int,
    ) -> None:
        self._nc, self._kv, self.tally, self._gate = nc, kv, tally, gate
        self._on_report = on_report
        self.settled_below = settled_below  # the chain's next epoch to settle, kept current
        self.last_mark: int | None = None
        self.refused = 0
        self.rereads = 0
        self._sub = None
        # (generation, message): messages of a subscription a re-read replaced are dropped
        self._queue: asyncio.Queue[tuple[int, Msg]] = asyncio.Queue(maxsize=1024)
        self._generation = 0
        self._lock = asyncio.Lock()  # one message at a time, and no re-read in the middle

    async def start(self, position: Position) -> None:
        self.last_mark = position.last_mark
        generation = self._generation

        async def enqueue(msg: Msg) -> None:
            await self._queue.put((generation, msg))

        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=position.start_seq,
            filter_subjects=[RECEIPTS_WILDCARD, EPOCH_MARK_SUBJECT, AUDIT_RESULT_SUBJECT],
        )
        self._sub = await self._nc.jetstream().subscribe(
            RECEIPTS_WILDCARD,
            stream=TRAFFIC_STREAM,
            config=config,
            ordered_consumer=True,
            idle_heartbeat=5.0,
            cb=enqueue,
        )
        log.info("traffic_reading", from_seq=position.start_seq, last_mark=position.last_mark)

    async def reread(self, position: Position, tally: Tally) -> None:
        """Read again from `position` into a fresh `tally`: the unsettled epochs are counted
        anew, with the admission list as it is now (see `Settler.step`)."""
        async with self._lock:
            await self.stop()
            self._generation += 1
            while not self._queue.empty():
                self._queue.get_nowait()
            self.tally = tally
            self.rereads += 1
            await self.start(position)

    async def run(self) -> None:
        """Handle messages one at a time, in stream order."""
        while True:
            generation, msg = await self._queue.get()
            async with self._lock:
                if generation != self._generation:
                    continue  # from before a re-read
                try:
                    await self.handle(msg)
                except Exception as exc:  # one bad message must not stop settlement
                    log.error("traffic_message_failed", subject=msg.subject, error=repr(exc))

    async def handle(self, msg: Msg) -> None:
        meta = msg.metadata
        stored_ms = int(meta.timestamp.timestamp() * 1000)
        subject, data, headers = msg.subject, msg.data, msg.headers
        if subject.startswith(RECEIPT_PREFIX):
            node = subject[len(RECEIPT_PREFIX) :]
            if self._gate.admit(subject, data, headers, roles=STORAGE, sender=node, once=False):
                self._receipts(node, data, stored_ms)
        elif subject == AUDIT_RESULT_SUBJECT:
            if self._gate.admit(subject, data, headers, roles=META, once=False):
                with contextlib.suppress(DecodeError):
                    self.tally.add_audit(events_pb2.AuditResult.FromString(data))
        elif subject == EPOCH_MARK_SUBJECT and self._gate.admit(
            subject, data, headers, roles=INCENTIVE, once=False
        ):
            try:
                mark = receipt_pb2.EpochMark.FromString(data)
            except DecodeError:
                return
            await self._mark(mark.epoch, meta.sequence.stream)

    def _receipts(self, node: str, data: bytes, stored_ms: int) -> None:
        try:
            batch = receipt_pb2.ReceiptBatch.FromString(data)
        except DecodeError:
            log.warning("receipts_unreadable", node=node)
            return
        if batch.node_id != node:
            log.warning("receipts_misaddressed", node=node, claims=batch.node_id[:80])
            return
        refused = self.tally.add_receipts(batch, stored_ms)
        if refused:
            self.refused += len(refused)
            reasons = sorted({r.reason for r in refused})
            log.warning("receipts_refused", node=node, count=len(refused), reasons=reasons)

    async def _mark(self, epoch: int, seq: int) -> None:
        if self.last_mark is not None and epoch <= self.last_mark:
            return  # a repeat: another replica marked the same end
        self.last_mark = epoch
        with contextlib.suppress(Exception):  # only a hint for a restart; the stream is truth
            await self._kv.put(mark_key(epoch), str(seq).encode())
        report = self.tally.close(epoch)
        if epoch < self.settled_below:
            log.info("epoch_already_settled", epoch=epoch)
            return
        log.info(
            "epoch_closed",
            epoch=epoch,
            nodes=len(report.traffic),
            payers=len(report.payers),
            bytes=sum(t.bytes for t in report.traffic),
        )
        await self._on_report(report)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None


async def publish_mark(nc: NATS, signer: Signer, epoch: int, height: int) -> None:
    """Mark the end of `epoch` in the stream (stored once however many replicas mark it)."""
    payload = receipt_pb2.EpochMark(epoch=epoch, height=height).SerializeToString()
    headers = signer.headers(EPOCH_MARK_SUBJECT, payload, {"Nats-Msg-Id": f"epoch-{epoch}"})
    await nc.jetstream().publish(EPOCH_MARK_SUBJECT, payload, headers=headers)
