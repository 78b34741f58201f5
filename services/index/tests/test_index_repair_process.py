"""Repair planned by `python -m stratos.index` itself: the index SIGKILLed mid-repair and NATS
restarted under a running loop, with this test playing the storage nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from index_support import beating, heartbeat, new_file_id, publish_heartbeat
from test_index_repair_loop import (
    CAPACITY,
    NODES,
    commit,
    queued,
    registry_with,
    repair_loop,
    send_result,
    settled,
    take_jobs,
)

from stratos.common import natsutil
from stratos.common.procs import async_wait_until, env_with, free_port
from stratos.common.testing_tls import cert_files
from stratos.index.locations import LocationStore
from stratos.index.manifests import now_ms
from stratos.index.pieces import holders
from stratos.v1 import repair_pb2

pytestmark = pytest.mark.integration


@contextmanager
def index_process(nats_url: str, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stratos.index"],
            env=env_with(
                STRATOS_NATS_URL=nats_url,
                STRATOS_GRPC_ADDRESS=f"127.0.0.1:{free_port()}",
                **cert_files("index", "index").env(),
                STRATOS_REPAIR_INTERVAL_S="0.2",
                # an index calls a node LOST only after watching it silent this long itself
                STRATOS_LOST_AFTER_S="8",
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


async def test_an_index_killed_mid_repair_resumes_without_storing_a_job_twice(
    nats, tmp_path
) -> None:
    nc = await natsutil.connect(nats.url, name="test-storage-nodes")
    js = nc.jetstream()
    try:
        await natsutil.ensure_heartbeat_stream(js, replicas=1)
        files = [settled(new_file_id()) for _ in range(2)]
        # A holder of the files went silent a minute ago: LOST. (Placement follows the random
        # file IDs, so a node named in advance might hold none of their chunks.)
        victim = files[0].segments[0].node_ids[0]
        silent = now_ms() - 60_000
        await publish_heartbeat(nc, heartbeat(victim, capacity=CAPACITY, sent_unix_ms=silent))
        await commit(nc, *files)
        wanted = sum(1 for m in files for s in m.segments if victim in s.node_ids)

        async def all_queued() -> dict[str, int] | None:
            try:
                q = await queued(js)
            except Exception:
                return None
            return q if sum(q.values()) == wanted else None

        log = tmp_path / "index.log"
        # The other nodes stay alive however long two index start-ups take on a busy machine.
        alive = [heartbeat(n, capacity=CAPACITY) for n in NODES if n != victim]
        async with beating(nc, *alive):
            with index_process(nats.url, log) as proc:
                first = await async_wait_until(all_queued, timeout_s=60, what="repair jobs queued")
                proc.kill()  # SIGKILL, before any storage node ran a job
            with index_process(nats.url, log) as proc:
                # It plans the same jobs again; none is stored twice, and it keeps running.
                await async_wait_until(
                    lambda: _log_has(log, "already_queued", wanted),
                    timeout_s=60,
                    what="the restarted index to plan",
                )
                assert await queued(js) == first and proc.poll() is None
                for node in NODES:
                    subject = natsutil.REPAIR_JOB_SUBJECT.format(node_id=node)
                    for msg in await take_jobs(js, node, first.get(subject, 0)):
                        await send_result(nc, repair_pb2.RepairJob.FromString(msg.data))
                store = await LocationStore.open(js, replicas=1)

                async def healed() -> bool:
                    locs = await store.all()
                    return all(
                        len(set(holders(m, locs.get(m.file_id))[s.chunk_id]) - {victim}) == 2
                        for m in files
                        for s in m.segments
                    )

                await async_wait_until(healed, timeout_s=30, what="locations healed")
                assert await queued(js) == {}
    finally:
        await nc.close()


async def test_repair_resumes_after_nats_restarts(nats) -> None:
    async with repair_loop(nats.url, registry_with(), run=True, repair_interval_s=0.2) as loop:
        m = settled(new_file_id())
        await commit(loop._nc, m)
        nats.kill()
        victim = m.segments[0].node_ids[0]
        loop._registry = registry_with(lost=(victim,))
        nats.restart()
        wanted = sum(1 for s in m.segments if victim in s.node_ids)

        async def planned() -> bool:
            try:
                return sum((await queued(loop._nc.jetstream())).values()) == wanted
            except Exception:
                return False

        await async_wait_until(planned, timeout_s=30, what="jobs after the NATS restart")


async def _log_has(log: Path, field: str, at_least: int) -> bool:
    """The `repair_jobs_published` lines of the log add up to `at_least` for `field`."""
    total = 0
    for line in log.read_text().splitlines():
        if '"repair_jobs_published"' in line and line.startswith("{"):
            total += json.loads(line).get(field, 0)
    return total >= at_least
