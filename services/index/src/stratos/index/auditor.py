"""The edge of audits: every STRATOS_AUDIT_INTERVAL_S, challenge STRATOS_AUDITS_PER_ROUND chunk
copies on live nodes, publish one AuditResult per challenge on stratos.audit.results, and write
off copies that failed on their data, so the repair loop re-creates them on its next round.

What exists comes from the catalog: a few random chunks of each live node, so a round costs
the challenges it makes, not the files stored. The right answer comes from
another live holder: its copy is streamed, checked against the chunk ID and reduced to the
challenged ranges (a bad copy there is a failed audit of that holder). A chunk with no other
good holder (an erasure-coded share, R=1) is audited by reading the node's own copy whole.
A node that cannot be reached is reported, never written off: the failure detector decides
whether it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Callable

import grpc
import nats.js.errors
from nats.aio.client import Client as NATS

from stratos.common import grpcutil
from stratos.common.errors import StratosError, from_grpc
from stratos.common.lifecycle import Component, cancel_and_wait
from stratos.common.logging import get_logger
from stratos.common.nats_trust import Signer
from stratos.common.natsutil import AUDIT_RESULT_SUBJECT, MANIFEST_BUCKET, ensure_kv
from stratos.common.tickets import audit_fields
from stratos.common.tracing import tracer
from stratos.index.audit_rules import (
    Challenge,
    ExpectedAnswer,
    Target,
    Verdict,
    judge_answer,
    judge_error,
    make_challenge,
    pick_targets,
    still_held,
)
from stratos.index.catalog import Catalog
from stratos.index.config import IndexSettings
from stratos.index.locations import LocationStore
from stratos.index.manifests import now_ms
from stratos.index.registry import LIVE
from stratos.index.repair_plan import DELETE, NodeView
from stratos.index.ticketing import TicketSigner
from stratos.v1 import events_pb2, repair_pb2, storage_pb2, storage_pb2_grpc, ticket_pb2, types_pb2

log = get_logger(__name__)
_tracer = tracer("stratos.index")
NONCE_BYTES = 32
_READ_RATE_BYTES_S = 1024 * 1024  # read deadlines allow at least this throughput

_SAMPLE_PER_NODE = 8  # chunks of each live node drawn from the catalog per round


class Auditor(Component):
    def __init__(
        self,
        nc: NATS,
        settings: IndexSettings,
        catalog: Catalog,
        nodes: Callable[[], dict[str, NodeView]],
        *,
        signer: Signer,
        credentials: grpc.ChannelCredentials,
        rng: random.Random | None = None,
        nonce: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], int] = now_ms,
        tickets: TicketSigner | None = None,
    ) -> None:
        self._nc, self._settings = nc, settings
        self._catalog, self._nodes = catalog, nodes
        self._tickets = tickets  # this meta node's own tickets for its reads and challenges
        self._signer = signer
        self._credentials = credentials  # mutual TLS with the index's own certificate
        self._rng = rng or random.Random()
        self._nonce, self._clock = nonce, clock
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._locations: LocationStore | None = None
        self._manifest_kv = None
        self._task: asyncio.Task | None = None

    async def start(self, *, run: bool = True) -> None:
        """Open the buckets; with `run` (and audits enabled), audit periodically."""
        js, replicas = self._nc.jetstream(), self._settings.nats_replicas
        self._locations = await LocationStore.open(js, replicas=replicas)
        self._manifest_kv = await ensure_kv(js, MANIFEST_BUCKET, replicas=replicas)
        if run and self._settings.audits_per_round > 0:
            self._task = asyncio.create_task(self._run())
        log.info(
            "auditor_started",
            interval_s=self._settings.audit_interval_s,
            per_round=self._settings.audits_per_round,
        )

    async def stop(self) -> None:
        """Stop auditing and close the channels; safe after a start that failed halfway."""
        await cancel_and_wait(self._task)
        self._task = None
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            with contextlib.suppress(Exception):
                await ch.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.audit_interval_s)
            try:
                await self.run_once()
            except Exception as exc:  # NATS away or slow: the next round tries again
                log.warning("audit_round_failed", error=str(exc) or repr(exc))

    async def run_once(self) -> list[events_pb2.AuditResult]:
        """One round, challenges one after another (one chunk's ranges in memory at a time)."""
        if not self._catalog.ready:
            return []
        nodes = self._nodes()
        count = self._settings.audits_per_round
        state = self._catalog.state
        sample: set[str] = set()
        for n in sorted(nodes):
            if nodes[n].state == LIVE:
                for cid in state.random_chunks(n, max(count, _SAMPLE_PER_NODE), self._rng):
                    sample |= state.files_naming(cid)
        targets = pick_targets(state.views(sample), nodes, count, self._rng)
        results: list[events_pb2.AuditResult] = []
        for picked in targets:
            t = still_held(picked, await self._locations.get(picked.file_id))
            if t is None:
                continue  # written off since it was drawn: repair is already on it
            try:
                results += await self.audit(t, nodes)
            except Exception as exc:  # one odd copy must not stop the round
                log.warning(
                    "audit_error", node=t.node_id, chunk_id=t.chunk_id, error=str(exc) or repr(exc)
                )
        return results

    async def audit(self, t: Target, nodes: dict[str, NodeView]) -> list[events_pb2.AuditResult]:
        """Challenge `t.node_id`; also every other holder whose copy turned out bad on the way."""
        with _tracer.start_as_current_span(
            "audit_chunk",
            attributes={
                "stratos.file_id": t.file_id,
                "stratos.chunk_id": t.chunk_id,
                "stratos.node_id": t.node_id,
            },
        ) as span:
            results = []
            challenge, expected = None, None
            others = list(t.others)
            self._rng.shuffle(others)
            for source in others:
                nonce = self._nonce(NONCE_BYTES)
                try:
                    challenge, expected = await self._expected(
                        t, source, nodes[source].address, nonce
                    )
                    break
                except StratosError as err:
                    verdict = judge_error(err)
                    if verdict.write_off:  # the source's own copy is bad: that fails its audit
                        results.append(await self._conclude(t, source, verdict, str(err)))
                    else:
                        log.info("audit_source_unusable", node=source, error=err.message)
            address = nodes[t.node_id].address
            if challenge is None:
                verdict, detail = await self._read_whole(t, t.node_id, address)
            else:
                verdict, detail = await self._challenge(t, t.node_id, address, challenge, expected)
            span.set_attribute("stratos.audit.passed", verdict.passed)
            span.set_attribute("stratos.audit.reason", verdict.reason)
            results.append(await self._conclude(t, t.node_id, verdict, detail))
            return results

    def _stub(self, address: str) -> storage_pb2_grpc.StorageServiceStub:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpcutil.channel(address, self._credentials)
        return storage_pb2_grpc.StorageServiceStub(ch)

    def _prove(self, node_id: str, method: str, *fields: str) -> ticket_pb2.TicketProof | None:
        if self._tickets is None:
            return None
        return self._tickets.own(node_id).prove(method, node_id, *fields)

    async def _read(
        self, t: Target, node_id: str, address: str, make: Callable[[int], Challenge | None]
    ) -> ExpectedAnswer:
        """Stream a copy through an ExpectedAnswer; the challenge is made once the first message
        tells the chunk's real size. Raises StratosError (DataLoss when the copy is bad)."""
        timeout = self._settings.audit_timeout_s + t.size / _READ_RATE_BYTES_S
        request = storage_pb2.GetChunkRequest(chunk_id=t.chunk_id)
        proof = self._prove(node_id, "GetChunk", t.chunk_id, "0", "0")
        if proof is not None:
            request.auth.CopyFrom(proof)
        call = self._stub(address).GetChunk(request, timeout=timeout)
        check = None
        try:
            async for msg in call:
                if check is None:
                    size = msg.total_size or t.size  # every node sends it; the hash check decides
                    check = ExpectedAnswer(t.chunk_id, size, make(size))
                check.feed(msg.data)
        except grpc.RpcError as err:
            raise from_grpc(err, peer=address) from None
        except StratosError:
            call.cancel()
            raise
        if check is None:
            check = ExpectedAnswer(t.chunk_id, 0)
        check.digest()  # raises DataLoss when the bytes are not the chunk
        return check

    async def _expected(
        self, t: Target, node_id: str, address: str, nonce: bytes
    ) -> tuple[Challenge, bytes]:
        check = await self._read(
            t, node_id, address, lambda size: make_challenge(size, nonce, self._rng)
        )
        return check.challenge, check.digest()

    async def _read_whole(self, t: Target, node_id: str, address: str) -> tuple[Verdict, str]:
        try:
            await self._read(t, node_id, address, lambda size: None)
        except StratosError as err:
            return judge_error(err), err.message
        return Verdict(True), "whole copy read and verified"

    async def _challenge(
        self, t: Target, node_id: str, address: str, challenge: Challenge, expected: bytes
    ) -> tuple[Verdict, str]:
        request = storage_pb2.AuditRequest(
            chunk_id=t.chunk_id,
            nonce=challenge.nonce,
            ranges=[
                storage_pb2.ByteRange(offset=r.offset, length=r.length) for r in challenge.ranges
            ],
        )
        ranges = [(r.offset, r.length) for r in challenge.ranges]
        proof = self._prove(
            node_id,
            "Audit",
            *audit_fields(t.chunk_id, challenge.nonce, ranges),
        )
        if proof is not None:
            request.auth.CopyFrom(proof)
        try:
            resp = await self._stub(address).Audit(request, timeout=self._settings.audit_timeout_s)
        except grpc.RpcError as err:
            mapped = from_grpc(err, peer=address)
            return judge_error(mapped), mapped.message
        verdict = judge_answer(expected, resp.digest)
        return verdict, "" if verdict.passed else "the digest does not match the chunk's bytes"

    async def _conclude(
        self, t: Target, node_id: str, verdict: Verdict, detail: str
    ) -> events_pb2.AuditResult:
        result = events_pb2.AuditResult(
            node_id=node_id,
            chunk_id=t.chunk_id,
            file_id=t.file_id,
            passed=verdict.passed,
            reason=verdict.reason,
            checked_unix_ms=self._clock(),
        )
        fields = {"node": node_id, "file_id": t.file_id, "chunk_id": t.chunk_id}
        if verdict.passed:
            log.info("audit_passed", **fields)
        elif verdict.write_off:
            removed = await self._write_off(t, node_id)
            log.warning(
                "audit_failed", reason=verdict.reason, detail=detail, removed=removed, **fields
            )
        else:
            log.info("audit_inconclusive", reason=verdict.reason, detail=detail, **fields)
        try:
            await self._signer.publish(self._nc, AUDIT_RESULT_SUBJECT, result.SerializeToString())
        except Exception as exc:  # the write-off above stands; only the report is lost
            log.warning("audit_result_not_published", error=str(exc) or repr(exc), **fields)
        return result

    async def _write_off(self, t: Target, node_id: str) -> bool:
        """Remove the node from the chunk's holders (CAS) in every file naming the chunk, as a
        DELETE result would; True when the locations changed. A file deleted meanwhile is left
        alone."""
        manifest = await self._manifest(t.file_id)
        if manifest is None:
            return False
        others = [m for m in self._catalog.state.naming(t.chunk_id) if m.file_id != t.file_id]
        result = repair_pb2.RepairResult(
            job_id=f"audit-{t.chunk_id[:16]}-{node_id}",
            kind=DELETE,
            file_id=t.file_id,
            chunk_id=t.chunk_id,
            node_id=node_id,
            ok=True,
        )
        try:
            return await self._locations.apply_all(result, [manifest, *others])
        except StratosError as err:  # the next audit of that copy fails again and retries
            log.warning("audit_write_off_failed", node=node_id, error=err.message)
            return False

    async def _manifest(self, file_id: str) -> types_pb2.Manifest | None:
        try:
            entry = await self._manifest_kv.get(file_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if not entry.value:
            return None
        return types_pb2.Manifest.FromString(
            types_pb2.SignedManifest.FromString(entry.value).manifest
        )
