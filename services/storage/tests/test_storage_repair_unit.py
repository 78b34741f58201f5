"""Repair execution without a network: the token bucket, the ack/nak decisions, job validation,
and the executor's dispatch over a real chunk store with an in-memory stand-in for the peers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import zfec

from stratos.common.errors import InvalidArgument, NotFound, StratosError, Unavailable
from stratos.common.hashing import chunk_id
from stratos.storage.chunkstore import ChunkStore, ChunkWriter, PutResult
from stratos.storage.ratelimit import RateLimiter, TokenBucket
from stratos.storage.repair_errors import JobFailed, SourceError, no_source_left
from stratos.storage.repair_exec import RepairExecutor
from stratos.storage.repair_jobs import (
    Action,
    Outcome,
    build_result,
    decide,
    retry_delay_s,
    validate_job,
)
from stratos.v1 import repair_pb2, types_pb2

MIB = 1024 * 1024
NODE = "node-t"


# -- token bucket ----------------------------------------------------------------------------


def test_bucket_lets_a_burst_through_then_paces_at_the_rate() -> None:
    bucket = TokenBucket(rate=1000, burst=500, now=0.0)
    assert bucket.take(500, now=0.0) == 0.0
    assert bucket.take(250, now=0.0) == pytest.approx(0.25)
    # A later caller queues behind the earlier one's debt.
    assert bucket.take(250, now=0.0) == pytest.approx(0.5)
    # Refilled after the debt is paid; never beyond the burst.
    assert bucket.take(500, now=10.0) == 0.0
    assert bucket.take(1, now=10.0) == pytest.approx(0.001)


def test_bucket_accepts_requests_bigger_than_the_burst() -> None:
    bucket = TokenBucket(rate=100, burst=10, now=0.0)
    assert bucket.take(1000, now=0.0) == pytest.approx(9.9)


def test_bucket_long_run_rate_is_the_configured_rate() -> None:
    bucket = TokenBucket(rate=1 * MIB, burst=MIB // 4, now=0.0)
    now = 0.0
    for _ in range(100):  # 100 MiB in 1 MiB pieces, each sent when allowed
        now += bucket.take(MIB, now)
    assert now == pytest.approx(100 - 0.25, rel=0.01)


async def test_limiter_sleeps_for_its_debt_and_zero_means_unlimited() -> None:
    fake_now = [0.0]
    limiter = RateLimiter(400_000, burst_bytes=100_000, clock=lambda: fake_now[0])
    loop = asyncio.get_running_loop()
    start = loop.time()
    await limiter.acquire(100_000)  # the burst: no wait
    await limiter.acquire(20_000)  # 20 kB of debt at 400 kB/s: 50 ms
    assert 0.04 <= loop.time() - start < 1.0
    unlimited = RateLimiter(0)
    start = loop.time()
    await unlimited.acquire(10**12)
    assert loop.time() - start < 0.05


# -- decisions -------------------------------------------------------------------------------


def test_success_and_permanent_failures_are_acked() -> None:
    assert decide(Outcome.done(5), 1, 3).action is Action.ACK
    gone = Outcome.failed(JobFailed("all corrupt", retryable=False))
    assert decide(gone, 1, 3).action is Action.ACK
    assert decide(gone, 1, 3).error == "all corrupt"


def test_retryable_failures_are_nakked_with_growing_delay_until_the_last_attempt() -> None:
    later = Outcome.failed(JobFailed("source unreachable.", retryable=True))
    first, second = decide(later, 1, 3), decide(later, 2, 3)
    assert (first.action, second.action) == (Action.NAK, Action.NAK)
    assert 0 < first.delay_s < second.delay_s
    last = decide(later, 3, 3)
    assert last.action is Action.ACK
    assert last.error == "source unreachable (gave up after 3 attempts)"
    assert retry_delay_s(30) == 60.0


def test_result_carries_the_job_and_the_outcome() -> None:
    job = repair_pb2.RepairJob(
        job_id="j1", kind=repair_pb2.REPAIR_KIND_COPY, file_id="f", chunk_id="c" * 64
    )
    ok = build_result(job, NODE, Outcome.done(42), "")
    assert (ok.job_id, ok.kind, ok.file_id, ok.chunk_id, ok.node_id) == (
        "j1",
        repair_pb2.REPAIR_KIND_COPY,
        "f",
        "c" * 64,
        NODE,
    )
    assert (ok.ok, ok.error, ok.bytes) == (True, "", 42)
    bad = build_result(job, NODE, Outcome.failed(JobFailed("x", retryable=True)), "x (gave up)")
    assert (bad.ok, bad.error, bad.bytes) == (False, "x (gave up)", 0)


def test_no_source_left_is_retryable_only_if_some_source_may_answer_later() -> None:
    corrupt = SourceError("a", "it sent corrupt bytes", retryable=False)
    down = SourceError.of("b", Unavailable("cannot reach the service at b:1; is it running?"))
    assert not no_source_left("chunk c", [corrupt, corrupt]).retryable
    err = no_source_left("chunk c", [corrupt, down])
    assert err.retryable
    assert err.message.startswith("no source could provide chunk c (a: it sent corrupt bytes; b:")
    assert not no_source_left("chunk c", []).retryable


def copy_job(cid: str, size: int, *sources: str, target: str = NODE) -> repair_pb2.RepairJob:
    return repair_pb2.RepairJob(
        job_id=f"copy-{cid[:8]}",
        kind=repair_pb2.REPAIR_KIND_COPY,
        chunk_id=cid,
        size=size,
        target_node_id=target,
        sources=[repair_pb2.ChunkSource(node_id=s, address=f"{s}:1") for s in sources],
    )


@pytest.mark.parametrize(
    ("job", "sentence"),
    [
        (copy_job("0" * 64, 1), "lists no source"),
        (copy_job("nope", 1, "a"), "no valid chunk ID"),
        (copy_job("0" * 64, 1, "a", target="other"), "targets 'other'"),
        (repair_pb2.RepairJob(job_id="j", chunk_id="0" * 64), "unknown kind"),
        (
            repair_pb2.RepairJob(
                job_id="j", kind=repair_pb2.REPAIR_KIND_REENCODE, chunk_id="0" * 64
            ),
            "no valid erasure code",
        ),
        (
            repair_pb2.RepairJob(
                job_id="j",
                kind=repair_pb2.REPAIR_KIND_REENCODE,
                chunk_id="0" * 64,
                erasure=types_pb2.ErasureCode(data_shares=2, parity_shares=1),
                share_index=0,
                shares=[repair_pb2.ShareSource(index=1, holders=[repair_pb2.ChunkSource()])],
            ),
            "1 other shares with holders; 2 are needed",
        ),
    ],
)
def test_malformed_jobs_fail_for_good(job: repair_pb2.RepairJob, sentence: str) -> None:
    with pytest.raises(JobFailed, match=sentence) as info:
        validate_job(job, NODE)
    assert not info.value.retryable


# -- executor over an in-memory mesh -----------------------------------------------------------


class FakePuller:
    """Peers as dicts of chunks; a peer mapped to an exception fails with it."""

    def __init__(self, peers: Mapping[str, dict[str, bytes] | Exception]) -> None:
        self.peers = peers
        self.calls: list[str] = []

    def _data(self, source: repair_pb2.ChunkSource, cid: str) -> bytes:
        self.calls.append(source.node_id)
        peer = self.peers[source.node_id]
        err: StratosError | None = None
        if isinstance(peer, Exception):
            err = peer  # type: ignore[assignment]
        elif cid not in peer:
            err = NotFound(f"chunk {cid} is not stored on {source.node_id}")
        if err is not None:
            raise SourceError.of(source.node_id, err)
        return peer[cid]  # type: ignore[index]

    async def copy_into(
        self, source, cid: str, size: int, writer: ChunkWriter, ticket=None
    ) -> PutResult:
        data = self._data(source, cid)
        try:
            writer.write(data)
            return writer.commit()
        except InvalidArgument:
            raise SourceError(source.node_id, "it sent corrupt bytes", retryable=False) from None

    async def fetch(self, source, cid: str, size: int, ticket=None) -> bytearray:
        data = self._data(source, cid)
        if chunk_id(data) != cid:
            raise SourceError(source.node_id, "it sent corrupt bytes", retryable=False)
        return bytearray(data)


def zfec_rebuild(
    shares: Mapping[int, bytes], k: int, m: int, wanted: Sequence[int]
) -> dict[int, bytes]:
    """Stand-in for stratos.common.erasure.rebuild, straight on zfec."""
    have = sorted(shares)[:k]
    primary = zfec.Decoder(k, k + m).decode([shares[i] for i in have], have)
    rebuilt = zfec.Encoder(k, k + m).encode(list(primary), list(wanted))
    return {i: bytes(b) for i, b in zip(wanted, rebuilt, strict=True)}


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    return ChunkStore(tmp_path, node_id=NODE, capacity_bytes=64 * MIB)


async def test_copy_uses_the_first_source_that_answers(store: ChunkStore) -> None:
    data = os.urandom(MIB + 3)
    cid = chunk_id(data)
    puller = FakePuller({"dead": Unavailable("cannot reach"), "good": {cid: data}})
    outcome = await RepairExecutor(store, puller).execute(copy_job(cid, len(data), "dead", "good"))
    assert outcome == Outcome.done(len(data))
    assert puller.calls == ["dead", "good"]
    assert store.path_of(cid).read_bytes() == data


async def test_copy_of_a_chunk_already_here_moves_nothing(store: ChunkStore) -> None:
    data = os.urandom(1000)
    cid = chunk_id(data)
    store.put(cid, data)
    puller = FakePuller({"good": {cid: data}})
    outcome = await RepairExecutor(store, puller).execute(copy_job(cid, len(data), "good"))
    assert outcome == Outcome.done(0)
    assert puller.calls == []


async def test_copy_from_only_corrupt_or_empty_sources_fails_for_good(store: ChunkStore) -> None:
    data = os.urandom(1000)
    cid = chunk_id(data)
    puller = FakePuller({"bad": {cid: b"x" * 1000}, "empty": {}})
    outcome = await RepairExecutor(store, puller).execute(copy_job(cid, 1000, "bad", "empty"))
    assert not outcome.ok and not outcome.retryable
    assert "bad: it sent corrupt bytes" in outcome.error
    assert store.stat().chunk_count == 0 and store.stat().reserved_bytes == 0
    assert list(store.tmp_dir.iterdir()) == []


async def test_copy_with_an_unreachable_source_is_retried(store: ChunkStore) -> None:
    cid = chunk_id(b"abc")
    puller = FakePuller({"bad": {cid: b"xyz"}, "dead": Unavailable("cannot reach dead")})
    outcome = await RepairExecutor(store, puller).execute(copy_job(cid, 3, "bad", "dead"))
    assert not outcome.ok and outcome.retryable


async def test_copy_to_a_full_node_fails_for_good(tmp_path: Path) -> None:
    small = ChunkStore(tmp_path, node_id=NODE, capacity_bytes=MIB)
    data = os.urandom(MIB + 1)
    cid = chunk_id(data)
    outcome = await RepairExecutor(small, FakePuller({"a": {cid: data}})).execute(
        copy_job(cid, len(data), "a")
    )
    assert not outcome.ok and not outcome.retryable and "full" in outcome.error


async def test_delete_removes_and_tolerates_absence(store: ChunkStore) -> None:
    cid = chunk_id(b"gone soon")
    store.put(cid, b"gone soon")
    job = repair_pb2.RepairJob(
        job_id="d", kind=repair_pb2.REPAIR_KIND_DELETE, chunk_id=cid, target_node_id=NODE
    )
    executor = RepairExecutor(store, FakePuller({}))
    assert await executor.execute(job) == Outcome.done(0)
    assert not store.path_of(cid).exists()
    assert await executor.execute(job) == Outcome.done(0)


def encode_segment(k: int, m: int, share_bytes: int) -> list[bytes]:
    blocks = [os.urandom(share_bytes) for _ in range(k)]
    return [bytes(s) for s in zfec.Encoder(k, k + m).encode(blocks)]


def reencode_job(shares: list[bytes], k: int, m: int, wanted: int, holders) -> repair_pb2.RepairJob:
    return repair_pb2.RepairJob(
        job_id=f"re-{wanted}",
        kind=repair_pb2.REPAIR_KIND_REENCODE,
        chunk_id=chunk_id(shares[wanted]),
        size=len(shares[wanted]),
        target_node_id=NODE,
        erasure=types_pb2.ErasureCode(data_shares=k, parity_shares=m),
        share_index=wanted,
        shares=[
            repair_pb2.ShareSource(
                index=i,
                chunk_id=chunk_id(s),
                holders=[repair_pb2.ChunkSource(node_id=h, address=f"{h}:1") for h in holders[i]],
            )
            for i, s in enumerate(shares)
            if i != wanted
        ],
    )


async def test_reencode_rebuilds_a_share_from_k_others(store: ChunkStore) -> None:
    k, m = 3, 2
    shares = encode_segment(k, m, 4096)
    peers: dict[str, dict[str, bytes] | Exception] = {
        f"n{i}": {chunk_id(s): s} for i, s in enumerate(shares)
    }
    peers["n0"] = Unavailable("cannot reach n0")  # share 0's only holder is down
    holders = {i: [f"n{i}"] for i in range(k + m)}
    puller = FakePuller(peers)
    job = reencode_job(shares, k, m, wanted=1, holders=holders)
    outcome = await RepairExecutor(store, puller, rebuild=zfec_rebuild).execute(job)
    assert outcome == Outcome.done(k * 4096)
    assert store.path_of(job.chunk_id).read_bytes() == shares[1]
    assert puller.calls == ["n0", "n2", "n3", "n4"]


async def test_reencode_with_too_few_intact_shares_fails_for_good(store: ChunkStore) -> None:
    k, m = 2, 1
    shares = encode_segment(k, m, 100)
    peers = {"n0": {chunk_id(shares[0]): shares[0]}, "n2": {chunk_id(shares[2]): b"x" * 100}}
    job = reencode_job(shares, k, m, wanted=1, holders={0: ["n0"], 2: ["n2"]})
    outcome = await RepairExecutor(store, FakePuller(peers), rebuild=zfec_rebuild).execute(job)
    assert not outcome.ok and not outcome.retryable
    assert "2 shares to rebuild" in outcome.error and "share 2" in outcome.error


async def test_reencode_checks_the_rebuilt_bytes_against_the_id(store: ChunkStore) -> None:
    k, m = 2, 1
    shares = encode_segment(k, m, 100)
    other = encode_segment(k, m, 100)  # a share of another segment under the wanted ID
    peers = {f"n{i}": {chunk_id(s): s} for i, s in enumerate(shares)}
    job = reencode_job(shares, k, m, wanted=1, holders={0: ["n0"], 2: ["n2"]})
    job.chunk_id = chunk_id(other[1])
    outcome = await RepairExecutor(store, FakePuller(peers), rebuild=zfec_rebuild).execute(job)
    assert not outcome.ok and "does not hash to chunk" in outcome.error
    assert store.stat().chunk_count == 0


async def test_reencode_by_default_uses_the_common_erasure_module(store: ChunkStore) -> None:
    k, m = 4, 2
    shares = encode_segment(k, m, 1000)
    peers = {f"n{i}": {chunk_id(s): s} for i, s in enumerate(shares)}
    job = reencode_job(shares, k, m, wanted=5, holders={i: [f"n{i}"] for i in range(k + m)})
    outcome = await RepairExecutor(store, FakePuller(peers)).execute(job)
    assert outcome == Outcome.done(k * 1000)
    assert store.path_of(job.chunk_id).read_bytes() == shares[5]
