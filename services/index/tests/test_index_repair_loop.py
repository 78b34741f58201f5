"""The repair loop against a real nats-server, with this test playing the storage nodes: it pulls
jobs from the STRATOS_REPAIR work queue and publishes RepairResults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from index_support import SEGMENT, build_manifest, heartbeat, index_trust, mesh, new_file_id, sign
from nats.js.api import AckPolicy, ConsumerConfig

from stratos.common import natsutil
from stratos.common.config import load_settings
from stratos.common.errors import ConfigError
from stratos.common.identity import Identity
from stratos.common.nats_subjects import REPAIR_BATCH_HEADER
from stratos.common.procs import async_wait_until
from stratos.common.tracing import setup_tracing
from stratos.index.catalog import Catalog
from stratos.index.config import IndexSettings
from stratos.index.locations import LocationStore
from stratos.index.manifests import ManifestStore, now_ms
from stratos.index.pieces import holders
from stratos.index.placement import rank
from stratos.index.registry import Candidate, Registry
from stratos.index.repair_loop import Budget, RepairLoop
from stratos.v1 import repair_pb2, types_pb2
from stratos.v1.auth_pb2 import MESH_ROLE_META

pytestmark = pytest.mark.integration

NODES = ("n1", "n2", "n3", "n4")
CAPACITY = 10 << 30
# The loops here plan from registries the test builds (registry_with), not from a heartbeat
# feed, so their clock stands still at the instant those heartbeats were sent: a live node
# stays live however long the test takes on a busy machine (on a running clock it would be
# SUSPECT after 6 s and take no repair copies, and every node LOST after 30 s).
NOW_MS = now_ms()


def clock() -> int:
    return NOW_MS


def settled(file_id: str, replicas: int = 2, size: int = 5 * SEGMENT) -> types_pb2.Manifest:
    """A manifest whose chunks sit where the planner ranks them, so a healthy mesh plans nothing."""
    m = build_manifest(file_id, size=size, replicas=replicas)
    cands = [Candidate(n, "", "z1", CAPACITY) for n in NODES]
    for seg in m.segments:
        seg.node_ids[:] = [c.node_id for c in rank(seg.chunk_id, cands)[:replicas]]
    return m


def registry_with(lost: tuple[str, ...] = (), suspect: tuple[str, ...] = ()) -> Registry:
    reg = Registry(6.0, 30.0)
    for n in NODES:
        sent = NOW_MS - 60_000 if n in lost else NOW_MS - 10_000 if n in suspect else NOW_MS
        reg.observe(heartbeat(n, capacity=CAPACITY, sent_unix_ms=sent))
    return reg


@asynccontextmanager
async def repair_loop(
    url: str, registry: Registry, run: bool = False, **overrides
) -> AsyncIterator[RepairLoop]:
    """A loop on its own connection, on the test's clock; unless `run`, the test runs its
    rounds (run_once)."""
    nc = await natsutil.connect(url, name="test-repair", connect_deadline_s=10)
    catalog = Catalog(nc.jetstream(), replicas=1)
    loop = RepairLoop(
        nc,
        registry,
        IndexSettings(nats_url=url, **overrides),
        catalog=catalog,
        clock=clock,
        **index_trust(),
    )
    try:
        await catalog.start()
        await loop.start(run=run)
        yield loop
    finally:
        await loop.stop()
        await catalog.stop()
        await nc.close()


async def commit(nc, *manifests: types_pb2.Manifest) -> None:
    store = await ManifestStore.open(nc.jetstream(), replicas=1)
    owner = Identity.generate()
    for m in manifests:
        await store.commit(sign(owner, m))


async def take_jobs(js, node: str, expected: int) -> list:
    """Pull (and acknowledge) the jobs queued for one node, as its executor would."""
    await js.add_consumer(
        natsutil.REPAIR_STREAM,
        ConsumerConfig(
            durable_name=f"repair-{node}",
            filter_subject=natsutil.REPAIR_JOB_SUBJECT.format(node_id=node),
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
    sub = await js.pull_subscribe_bind(durable=f"repair-{node}", stream=natsutil.REPAIR_STREAM)
    msgs = await sub.fetch(expected, timeout=5) if expected else []
    for msg in msgs:
        await msg.ack_sync()
    await sub.unsubscribe()
    return msgs


async def queued(js) -> dict[str, int]:
    info = await js.stream_info(natsutil.REPAIR_STREAM, subjects_filter=">")
    return dict(info.state.subjects or {})


async def send_result(
    nc, job: repair_pb2.RepairJob, ok: bool = True, on_subject_of: str | None = None
) -> None:
    result = repair_pb2.RepairResult(
        job_id=job.job_id,
        kind=job.kind,
        file_id=job.file_id,
        chunk_id=job.chunk_id,
        node_id=job.target_node_id,
        ok=ok,
        error="" if ok else "disk full",
        bytes=job.size if ok else 0,
    )
    # as the storage node the job targeted reports it: signed by that node, on the subject of
    # `on_subject_of` (its own, unless the test plays a node speaking for another)
    node = job.target_node_id
    if node not in mesh().identities:
        mesh().storage(node)
    subject = natsutil.REPAIR_RESULT_SUBJECT.format(node_id=on_subject_of or node)
    await mesh().signer(node).publish(nc, subject, result.SerializeToString())


async def test_a_lost_node_puts_jobs_on_the_queue_and_results_heal_the_locations(nats) -> None:
    setup_tracing("test-index")  # so the planning span's context rides in the job headers
    async with repair_loop(nats.url, registry_with()) as loop:
        nc, js = loop._nc, loop._nc.jetstream()
        files = [settled(new_file_id()) for _ in range(3)]
        await commit(nc, *files)
        assert (await loop.run_once()).jobs == []
        assert loop.health.healthy == 3

        loop._registry = registry_with(lost=("n2",))
        p = await loop.run_once()
        on_n2 = {s.chunk_id for m in files for s in m.segments if "n2" in s.node_ids}
        assert on_n2 and {j.chunk_id for j in p.jobs} == on_n2
        by_target: dict[str, int] = {}
        for j in p.jobs:
            key = natsutil.REPAIR_JOB_SUBJECT.format(node_id=j.target_node_id)
            by_target[key] = by_target.get(key, 0) + 1
        assert await queued(js) == by_target
        assert loop.health.repairing > 0 and loop.health.bytes_to_repair > 0

        jobs = []
        for node in NODES:
            subject = natsutil.REPAIR_JOB_SUBJECT.format(node_id=node)
            for msg in await take_jobs(js, node, by_target.get(subject, 0)):
                job = repair_pb2.RepairJob.FromString(msg.data)
                assert msg.headers["Nats-Msg-Id"] == job.job_id and "traceparent" in msg.headers
                assert job.target_node_id == node and job.kind == repair_pb2.REPAIR_KIND_COPY
                jobs.append(job)
        for job in jobs:
            await send_result(nc, job)
        store = await LocationStore.open(js, replicas=1)

        async def healed() -> bool:
            locs = await store.all()
            for m in files:
                where = holders(m, locs.get(m.file_id))
                if any(len(set(where[s.chunk_id]) - {"n2"}) < 2 for s in m.segments):
                    return False
            return True

        await async_wait_until(healed, timeout_s=10, what="locations updated by the results")
        assert len(loop.outstanding) == 0
        assert (await loop.run_once()).jobs == []
        assert loop.health.healthy == 3 and loop.health.bytes_to_repair == 0


async def test_many_jobs_go_in_signed_batches_per_node_and_their_results_heal(nats) -> None:
    """A round with many jobs (a lost node's) sends one message per node and batch, not one
    per job; the storage nodes' per-job results heal the locations as before."""
    async with repair_loop(nats.url, registry_with(), repair_batch_from=2) as loop:
        nc, js = loop._nc, loop._nc.jetstream()
        files = [settled(new_file_id()) for _ in range(4)]
        await commit(nc, *files)
        assert (await loop.run_once()).jobs == []
        loop._registry = registry_with(lost=("n2",))
        p = await loop.run_once()
        assert len(p.jobs) >= 3
        messages = await queued(js)
        assert sum(messages.values()) == len({j.target_node_id for j in p.jobs})
        jobs = []
        for node in NODES:
            subject = natsutil.REPAIR_JOB_SUBJECT.format(node_id=node)
            for msg in await take_jobs(js, node, messages.get(subject, 0)):
                assert int(msg.headers[REPAIR_BATCH_HEADER]) >= 1
                assert (
                    mesh()
                    .gate()
                    .admit(msg.subject, msg.data, msg.headers, roles=frozenset({MESH_ROLE_META}))
                )
                batch = repair_pb2.RepairJobBatch.FromString(msg.data).jobs
                assert all(j.target_node_id == node for j in batch)
                jobs += batch
        assert sorted(j.job_id for j in jobs) == sorted(j.job_id for j in p.jobs)
        for job in jobs:
            await send_result(nc, job)
        await async_wait_until(
            lambda: _answered(loop), timeout_s=10, what="every batched job answered"
        )
        assert (await loop.run_once()).jobs == [] and loop.health.healthy == 4


async def _answered(loop: RepairLoop) -> bool:
    return len(loop.outstanding) == 0


async def test_a_round_plans_what_changed_not_every_file_stored(nats) -> None:
    """After the first round (every file checked once), a round with nothing new plans no file;
    a commit plans that file; a lost node plans the files it held; a node joining queues every
    file for rebalancing, planned a bounded batch per round."""
    async with repair_loop(nats.url, registry_with(), repair_sweep_files_per_round=10) as loop:
        nc = loop._nc
        files = [settled(new_file_id(), size=SEGMENT) for _ in range(40)]
        await commit(nc, *files)
        assert (await loop.run_once()).jobs == []
        assert loop.planned_files == 40 and loop.health.healthy == 40
        await loop.run_once()
        assert loop.planned_files == 0

        extra = settled(new_file_id(), size=SEGMENT)
        await commit(nc, extra)
        await loop.run_once()
        assert loop.planned_files == 1
        assert loop.health.healthy == loop.health.file_count == 41

        # suspect: its files are checked once (they wait on it), then left alone until it
        # comes back or is lost — not planned again every round for nothing
        on_n2 = {m.file_id for m in [*files, extra] if "n2" in m.segments[0].node_ids}
        loop._registry = registry_with(suspect=("n2",))
        assert (await loop.run_once()).jobs == []
        assert 0 < loop.planned_files == len(on_n2) < 41
        assert loop.health.waiting_on == ["n2"] and loop.health.degraded == len(on_n2)
        await loop.run_once()
        assert loop.planned_files == 0 and loop.health.waiting_on == ["n2"]

        loop._registry = registry_with(lost=("n2",))
        p = await loop.run_once()
        assert 0 < loop.planned_files == len(on_n2) < 41
        assert {j.file_id for j in p.jobs} == on_n2
        assert loop.health.degraded + loop.health.repairing == len(on_n2)

    async with repair_loop(nats.url, registry_with(), repair_sweep_files_per_round=10) as loop:
        await loop.run_once()  # a fresh loop over the same 41 files
        await loop.run_once()
        assert loop.planned_files == 0
        joined = registry_with()
        joined.observe(heartbeat("n9", capacity=CAPACITY, sent_unix_ms=NOW_MS))
        loop._registry = joined
        await loop.run_once()
        assert loop.planned_files == 10  # the first batch of the rebalancing sweep


async def test_a_result_on_another_nodes_subject_is_dropped(nats) -> None:
    """A node's NATS user publishes results only on its own subject; a result there that names
    another node is someone answering for that node, and changes nothing."""
    async with repair_loop(nats.url, registry_with()) as loop:
        nc = loop._nc
        files = [settled(new_file_id()) for _ in range(2)]
        await commit(nc, *files)
        loop._registry = registry_with(lost=("n2",))
        jobs = (await loop.run_once()).jobs
        assert len(jobs) >= 2
        for job in jobs:
            other = next(n for n in NODES if n not in (job.target_node_id, "n2"))
            await send_result(nc, job, on_subject_of=other)
        await send_result(nc, jobs[0])  # handled after the forged ones (one subscription)

        async def answered() -> bool:
            return len(loop.outstanding) < len(jobs)

        await async_wait_until(answered, timeout_s=10, what="the honest result applied")
        assert len(loop.outstanding) == len(jobs) - 1


async def test_a_restarted_index_stores_no_job_twice_and_reissues_executed_ones(nats) -> None:
    m = settled(new_file_id())
    # a node holding the file (placement follows the random file ID: a fixed one may hold none)
    lost = registry_with(lost=(m.segments[0].node_ids[0],))
    async with repair_loop(nats.url, registry_with()) as first:
        await commit(first._nc, m)
        first._registry = lost
        planned = (await first.run_once()).jobs
        assert planned
        before = await queued(first._nc.jetstream())
    # The index dies before any result; a new one plans the same jobs: none is stored twice.
    async with repair_loop(nats.url, lost) as second:
        again = await second.run_once()
        assert sorted(j.job_id for j in again.jobs) == sorted(j.job_id for j in planned)
        assert await queued(second._nc.jetstream()) == before
        assert len(second.outstanding) == len(planned)
        # Executors run every job, but the results are lost (nobody was listening) ...
        js = second._nc.jetstream()
        for node in {j.target_node_id for j in planned}:
            n = sum(1 for j in planned if j.target_node_id == node)
            await take_jobs(js, node, n)
        assert await queued(js) == {}
    # ... so a third index, finding the jobs gone from the queue, issues them once more.
    async with repair_loop(nats.url, lost) as third:
        third_plan = await third.run_once()
        assert {j.job_id for j in third_plan.jobs} == {j.job_id for j in planned}
        assert await queued(third._nc.jetstream()) == before
        async with repair_loop(nats.url, lost) as fourth:  # a second replica: still stored once
            await fourth.run_once()
            assert await queued(fourth._nc.jetstream()) == before


async def test_a_failed_job_is_planned_again_on_another_node(nats) -> None:
    async with repair_loop(nats.url, registry_with()) as loop:
        m = settled(new_file_id(), size=1000)
        await commit(loop._nc, m)
        loop._registry = registry_with(lost=(m.segments[0].node_ids[0],))
        (job,) = (await loop.run_once()).jobs
        await send_result(loop._nc, job, ok=False)
        await async_wait_until(
            lambda: _async(len(loop.outstanding) == 0), timeout_s=5, what="the failure to arrive"
        )
        (retry,) = (await loop.run_once()).jobs
        assert retry.chunk_id == job.chunk_id and retry.target_node_id != job.target_node_id


async def test_the_rate_limit_spreads_copies_over_rounds_and_deletes_follow_files(nats) -> None:
    async with repair_loop(
        nats.url, registry_with(), repair_plan_rate_bytes_s=4 * SEGMENT, repair_interval_s=1.0
    ) as loop:
        big = settled(new_file_id(), size=49 * SEGMENT)  # 49 chunks
        await commit(loop._nc, big)
        loop._registry = registry_with(lost=("n3",))
        first = await loop.run_once()
        published = len(loop.outstanding)
        assert 0 < published < len(first.jobs)
        assert sum(j.size for j in loop.outstanding.jobs()) <= 4 * SEGMENT

        # Locations of a file that no longer exists are removed by the next round.
        store = await LocationStore.open(loop._nc.jetstream(), replicas=1)
        job = loop.outstanding.jobs()[0]
        await send_result(loop._nc, job)
        await async_wait_until(
            lambda: _has_locations(store, big.file_id), timeout_s=5, what="locations"
        )
        kv = await natsutil.ensure_kv(loop._nc.jetstream(), natsutil.MANIFEST_BUCKET, replicas=1)
        await kv.delete(big.file_id)
        await loop.run_once()
        assert await store.all() == {}


def test_repair_settings_have_defaults_and_refuse_bad_values(monkeypatch) -> None:
    s = load_settings(IndexSettings)
    assert (s.repair_interval_s, s.repair_plan_rate_bytes_s) == (1.0, 1 << 30)
    monkeypatch.setenv("STRATOS_REPAIR_PLAN_RATE_BYTES_S", "10")
    with pytest.raises(ConfigError, match="STRATOS_REPAIR_PLAN_RATE_BYTES_S"):
        load_settings(IndexSettings)


def test_budget_refills_at_its_rate_and_lets_one_oversized_job_through() -> None:
    b = Budget(rate=100, burst=200)
    assert b.take(150) and not b.take(100)
    b.refill(0.5)
    assert b.take(100) and not b.take(1)
    b.refill(10)
    assert b.tokens == 200 and b.take(1000) and not b.take(1)


async def _async(value):
    return value


async def _has_locations(store: LocationStore, file_id: str) -> bool:
    return file_id in await store.all()
