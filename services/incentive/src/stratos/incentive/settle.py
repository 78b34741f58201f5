"""Settling epochs: sign each report, gather the meta nodes' signatures, submit it once.

Each replica signs the digest of every report it closes and puts its signature in the reports
bucket under `sig.<epoch>.<digest>.<its address>`. Replicas that read the same stream computed
the same report, so their signatures land under the same digest. Every `poll_interval_s` a
replica looks at the chain: it marks the end of the epoch the stream is in once the chain has
passed it, and when the next epoch to settle has a report here with signatures from at least
2/3 of the bonded meta nodes, it submits the report — first the replica that ranks first among
the signers, the others each `submit_stagger_s` later if the epoch is still unsettled, so one
tx settles it in the common case and a dead replica delays it by seconds, never forever. The
ledger settles each epoch once; a second submission is refused there and costs its fee only.

Replicas can disagree when they read with different admission lists — a node admitted a moment
ago, whose list reached one replica before another (on Kubernetes a ConfigMap takes up to a
minute to reach every pod). Then their signatures land under different digests and, with too
few replicas on either side, the epoch would wait forever. So a replica whose own report lacks
its quorum while another replica signed a different one for the same epoch asks to read the
unsettled epochs again (`reread_due`), at most once every `REREAD_EVERY_S`: with the list it
has now, the lagging replica computes what the others did, and signs that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS

from stratos.common.chain_client import Chain
from stratos.common.epoch_reports import report_digest
from stratos.common.identity import Identity, address_of, verify
from stratos.common.logging import get_logger
from stratos.common.nats_subjects import REPORTS_BUCKET
from stratos.common.stos import sign_tx
from stratos.v1 import ledger_pb2

log = get_logger(__name__)

REREAD_AFTER_S = 10.0  # how long a disagreement may last before the replica reads again
REREAD_EVERY_S = 60.0  # and not more often than this (a real dispute does not flap)


def quorum(bonded_meta: int) -> int:
    """The ledger's rule: at least 2/3 of the bonded meta nodes, rounded up, and at least one."""
    return max(1, -(-2 * bonded_meta // 3))


def mark_due(last_mark: int | None, next_to_settle: int, height: int, epoch_blocks: int):
    """The epoch whose end should be marked now, or None: the one after the last mark (or the
    chain's next to settle), once the chain has passed its last block."""
    epoch = next_to_settle if last_mark is None else max(last_mark + 1, next_to_settle)
    return epoch if epoch_blocks and height >= (epoch + 1) * epoch_blocks else None


def sig_key(epoch: int, digest: bytes, address: str) -> str:
    return f"sig.{epoch}.{digest.hex()[:32]}.{address}"


@dataclass
class Pending:
    report: ledger_pb2.EpochReport
    digest: bytes
    quorum_seen_at: float | None = None
    submitted: set[str] = field(default_factory=set)  # tx hashes
    disagreed_at: float | None = None  # when another replica's different digest was first seen


class Settler:
    def __init__(
        self,
        nc: NATS,
        kv,
        chain: Chain,
        identity: Identity,
        *,
        chain_id: str,
        fee_nstos: int,
        stagger_s: float,
    ) -> None:
        self._nc, self._kv, self._chain, self.identity = nc, kv, chain, identity
        self.address = address_of(identity.public_bytes)
        self.chain_id, self.fee, self.stagger_s = chain_id, fee_nstos, stagger_s
        self.pending: dict[int, Pending] = {}
        self.settled: list[int] = []  # epochs this replica saw settle (for tests)
        self.reread_due = False  # set when this replica should read the unsettled epochs again
        self._last_reread = float("-inf")

    async def on_report(self, report: ledger_pb2.EpochReport) -> None:
        """Sign a closed epoch's report and publish the signature."""
        digest = report_digest(self.chain_id, report)
        self.pending[report.epoch] = Pending(report, digest)
        value = self.identity.public_bytes + self.identity.sign(digest)
        await self._kv.put(sig_key(report.epoch, digest, self.address), value)
        log.info("report_signed", epoch=report.epoch, digest=digest.hex()[:16])

    async def signatures(self, epoch: int, digest: bytes) -> list[ledger_pb2.ReportSignature]:
        """Every valid signature over (epoch, digest) in the bucket, by signer address."""
        prefix = f"sig.{epoch}.{digest.hex()[:32]}."
        js = self._nc.jetstream()
        info = await js.stream_info(
            f"KV_{REPORTS_BUCKET}", subjects_filter=f"$KV.{REPORTS_BUCKET}.{prefix}>"
        )
        found: dict[str, ledger_pb2.ReportSignature] = {}
        for subject in sorted(info.state.subjects or {}):
            key = subject[len(f"$KV.{REPORTS_BUCKET}.") :]
            try:
                value = (await self._kv.get(key)).value or b""
            except Exception:  # deleted or expired since the listing
                continue
            pk, sig = value[:32], value[32:]
            who = key[len(prefix) :]
            if len(pk) == 32 and address_of(pk) == who and verify(pk, sig, digest):
                found[who] = ledger_pb2.ReportSignature(public_key=pk, signature=sig)
        return [found[a] for a in sorted(found)]

    async def step(self, status) -> None:
        """One look at the chain: drop what settled, submit what is due."""
        k = status.epochs.next_to_settle
        for epoch in [e for e in self.pending if e < k]:
            del self.pending[epoch]
            self.settled.append(epoch)
            log.info("epoch_settled", epoch=epoch, height=status.epochs.last_settled_height)
        p = self.pending.get(k)
        if p is None:
            return
        sigs = await self.signatures(k, p.digest)
        need = quorum(status.epochs.bonded_meta_nodes)
        if len(sigs) < need:
            p.quorum_seen_at = None
            await self._check_disagreement(k, p)
            return
        now = time.monotonic()
        if p.quorum_seen_at is None:
            p.quorum_seen_at = now
        signers = sorted(address_of(s.public_key) for s in sigs)
        rank = signers.index(self.address) if self.address in signers else len(signers)
        if now - p.quorum_seen_at < rank * self.stagger_s:
            return
        if p.submitted and now - p.quorum_seen_at < (rank + 1) * self.stagger_s * 4:
            return  # ours is in flight: give it a few blocks before trying again
        await self._submit(p, sigs)

    async def _check_disagreement(self, epoch: int, p: Pending) -> None:
        """Ask for a re-read when another replica signed a different report for `epoch`."""
        others = await self._other_digests(epoch, p.digest)
        now = time.monotonic()
        if not others:
            p.disagreed_at = None
            return
        if p.disagreed_at is None:
            p.disagreed_at = now
            log.warning("report_disagrees", epoch=epoch, ours=p.digest.hex()[:16], others=others)
        if now - p.disagreed_at >= REREAD_AFTER_S and now - self._last_reread >= REREAD_EVERY_S:
            self._last_reread = now
            self.reread_due = True

    async def _other_digests(self, epoch: int, digest: bytes) -> list[str]:
        """Digests (short) other replicas signed for `epoch` that are not `digest`."""
        mine = digest.hex()[:32]
        js = self._nc.jetstream()
        info = await js.stream_info(
            f"KV_{REPORTS_BUCKET}", subjects_filter=f"$KV.{REPORTS_BUCKET}.sig.{epoch}.>"
        )
        found = set()
        for subject in info.state.subjects or {}:
            parts = subject.split(".")  # $KV, bucket, sig, epoch, digest, address
            if len(parts) == 6 and parts[4] != mine and parts[5] != self.address:
                found.add(parts[4][:16])
        return sorted(found)

    async def _submit(self, p: Pending, sigs: list[ledger_pb2.ReportSignature]) -> None:
        report = ledger_pb2.EpochReport()
        report.CopyFrom(p.report)
        report.signatures.extend(sigs)
        acct = await self._chain.account(self.address)
        body = ledger_pb2.TxBody(
            chain_id=self.chain_id,
            nonce=acct.pending_nonce,
            fee=self.fee,
            epoch_report=report,
        )
        raw = sign_tx(self.identity, body)
        try:
            resp = await self._chain.submit(raw)
        except Exception as exc:
            log.warning("report_not_submitted", epoch=report.epoch, error=str(exc))
            return
        p.submitted.add(resp.tx_hash)
        log.info(
            "report_submitted",
            epoch=report.epoch,
            signatures=len(sigs),
            tx=resp.tx_hash,
        )
