"""Scale figures (issue 12): what the index costs with 100,000 files stored.

One real index process on a real nats-server (users, TLS and signed messages as always), nine
storage nodes played by this process — each admitted, heartbeating every 0.5 s, signed with its
own key — and `files` one-chunk manifests (R=3) written straight into the manifests bucket, each
chunk on the three nodes the repair planner ranks first, so a healthy mesh plans nothing. No
chunk exists on any disk: these figures are about the control plane only.

- `scale.idle_cpu_cores_100k`: the index's and NATS's CPU over `IDLE_S` seconds once the index
  has read everything and nothing happens but heartbeats (bound 0.05 cores).
- `scale.repair_plan_s_100k`: one node stops beating; from the moment the index shows it LOST
  (ListNodes) until every repair job for its chunks (about a third of the files) is queued on
  the STRATOS_REPAIR stream (bound 10 s; a batch message counts as the jobs it holds). The
  index runs with a plan rate and an outstanding limit that let it queue them all
  (`REPAIR_ENV`); by default it queues 512 at a time.
- `scale.list_100k_s`: `stratos ls --all --json` of every file, a fresh CLI process (bound 5 s).
Beside them, without a bound: `scale.index_ready_s_100k`, from starting the index until
GetHealth counts every file, and the index's resident memory then.

`python -m bench.scale [FILES]` runs only these, with FILES files (default 100,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import grpc
from nats.errors import TimeoutError as NatsTimeout

from bench.results import Figure
from stratos.common import natsutil
from stratos.common.identity import Identity
from stratos.common.nats_roles import Role
from stratos.common.nats_subjects import REPAIR_BATCH_HEADER
from stratos.common.procs import free_port
from stratos.common.procs import stop as stop_process
from stratos.common.signed import sign as sign_message
from stratos.common.testing import NatsProcess, TrustedMesh, nats_server
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.index.manifest_rules import manifest_message
from stratos.index.placement import rank
from stratos.index.registry import Candidate
from stratos.sdk.file_names import sealed_name
from stratos.v1 import events_pb2, index_pb2, index_pb2_grpc, types_pb2

FILES = 100_000
NODES = [f"s{i}" for i in range(1, 10)]
CAPACITY = 1 << 40
CHUNK = 64 * 1024 + 16
IDLE_S = 30.0
BEAT_S = 0.5
WRITERS = 128  # KV writes in flight while the bench fills the bucket
REPAIR_ENV = {
    "STRATOS_REPAIR_MAX_OUTSTANDING": "100000",
    "STRATOS_REPAIR_PLAN_RATE_BYTES_S": str(1 << 40),
    "STRATOS_SUSPECT_AFTER_S": "1.5",
    "STRATOS_LOST_AFTER_S": "3",
}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _manifest(i: int, candidates: list[Candidate]) -> types_pb2.Manifest:
    file_id = f"{i:032x}"
    chunk = f"{i:064x}"
    holders = [c.node_id for c in rank(chunk, candidates)[:3]]
    return types_pb2.Manifest(
        file_id=file_id,
        size=CHUNK - 16,
        replicas=3,
        segment_size=CHUNK - 16,
        cipher=types_pb2.CIPHER_AES_256_GCM,
        created_unix_ms=int(time.time() * 1000),
        metadata=sealed_name(os.urandom(32), file_id, f"file-{i}.bin"),
        segments=[
            types_pb2.Segment(
                index=0,
                chunk_id=chunk,
                plain_size=CHUNK - 16,
                stored_size=CHUNK,
                node_ids=holders,
            )
        ],
    )


async def _fill(nats: NatsProcess, files: int) -> dict[str, int]:
    """Write `files` signed manifests into the bucket; returns chunks per node."""
    from stratos.index.manifests import ManifestStore

    nc = await natsutil.connect(nats.url, name="bench-fill", login=nats.login(Role.INDEX))
    try:
        store = await ManifestStore.open(nc.jetstream(), replicas=1)
        kv = store._kv
        owner = Identity.generate()
        candidates = [Candidate(n, "", "z1", CAPACITY) for n in NODES]
        per_node = dict.fromkeys(NODES, 0)
        gate = asyncio.Semaphore(WRITERS)

        async def one(i: int) -> None:
            m = _manifest(i, candidates)
            body = m.SerializeToString()
            signed = types_pb2.SignedManifest(
                manifest=body,
                owner_public_key=owner.public_bytes,
                signature=owner.sign(manifest_message(body)),
            )
            for n in m.segments[0].node_ids:
                per_node[n] += 1
            async with gate:
                for attempt in range(5):  # a busy server may time one out; a put repeats safely
                    try:
                        await kv.put(m.file_id, signed.SerializeToString())
                        return
                    except NatsTimeout:
                        if attempt == 4:
                            raise

        await asyncio.gather(*(one(i) for i in range(files)))
        return per_node
    finally:
        await nc.close()


class Beats:
    """The nine storage nodes' heartbeats, signed by each, every BEAT_S; `silence(n)` stops one."""

    def __init__(self, nats: NatsProcess, trust: TrustedMesh) -> None:
        self._nats, self._trust = nats, trust
        self.silent: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        nc = await natsutil.connect(self._nats.url, name="bench-beats", login=self._nats.login())
        try:
            await natsutil.ensure_heartbeat_stream(nc.jetstream(), replicas=1)
            while not stop.is_set():
                for n in NODES:
                    if n not in self.silent:
                        await self._beat(nc, n)
                await nc.flush()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), BEAT_S)
        finally:
            await nc.close()

    async def _beat(self, nc, node_id: str) -> None:
        ident = self._trust.identities[node_id]
        hb = events_pb2.Heartbeat(
            node=types_pb2.NodeInfo(
                node_id=node_id,
                address=f"127.0.0.1:{7300 + NODES.index(node_id)}",
                zone="z1",
                capacity_bytes=CAPACITY,
                used_bytes=0,
                version="bench",
                public_key=ident.public_bytes,
            ),
            sent_unix_ms=int(time.time() * 1000),
        )
        subject = natsutil.HEARTBEAT_SUBJECT.format(node_id=node_id)
        data = hb.SerializeToString()
        headers = sign_message(ident, node_id, subject, data, hb.sent_unix_ms)
        await nc.publish(subject, data, headers=headers)


@contextmanager
def _index(nats: NatsProcess, trust: TrustedMesh, work: Path) -> Iterator[tuple[int, str]]:
    _, meta_env = trust.meta("index-1")
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        **trust.env,
        **meta_env,
        **nats.env(Role.INDEX),
        **cert_files("index", "index").env(),
        **REPAIR_ENV,
        "STRATOS_NATS_URL": nats.url,
        "STRATOS_GRPC_ADDRESS": address,
        "STRATOS_LOG_LEVEL": "info",
    }
    with (work / "index.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stratos.index"], env=env, stdout=log, stderr=log
        )
    try:
        yield proc.pid, address
    finally:
        stop_process(proc)


async def _health_files(index: index_pb2_grpc.IndexServiceStub) -> int:
    try:
        return (await index.GetHealth(index_pb2.GetHealthRequest(), timeout=30)).files
    except Exception:  # not serving yet
        return -1


async def _state(index: index_pb2_grpc.IndexServiceStub, node_id: str) -> int:
    nodes = (await index.ListNodes(index_pb2.ListNodesRequest(), timeout=30)).nodes
    return next((n.state for n in nodes if n.info.node_id == node_id), 0)


class QueuedJobs:
    """Repair jobs on the STRATOS_REPAIR stream: a message holds one job, or a batch of as many
    as its REPAIR_BATCH_HEADER says. Each new message is read once."""

    def __init__(self, js) -> None:
        self._js, self._seen, self.jobs = js, 0, 0

    async def count(self) -> int:
        try:
            last = (await self._js.stream_info(natsutil.REPAIR_STREAM)).state.last_seq
        except Exception:  # not created yet
            return 0
        for seq in range(self._seen + 1, last + 1):
            msg = await self._js.get_msg(natsutil.REPAIR_STREAM, seq)
            self.jobs += int((msg.headers or {}).get(REPAIR_BATCH_HEADER, 1))
        self._seen = max(self._seen, last)
        return self.jobs


def _list_all(address: str) -> tuple[float, int]:
    env = {
        **os.environ,
        **{k: v for k, v in cert_files("client", "client").env().items()},
        "STRATOS_INDEX_ADDRESS": address,
        "STRATOS_HOME": tempfile.mkdtemp(prefix="stratos-bench-cli-"),
    }
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "stratos.sdk", "ls", "--all", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    elapsed = time.perf_counter() - start
    return elapsed, len(json.loads(out.stdout))


async def _measure(work: Path, files: int) -> list[Figure]:
    figures: list[Figure] = []
    (work / "nats").mkdir(parents=True, exist_ok=True)
    with nats_server(work / "nats", secure=True) as nats:
        trust = TrustedMesh(work / "trust")
        trust.root.mkdir(parents=True, exist_ok=True)
        for n in NODES:
            trust.storage(n)
        per_node = await _fill(nats, files)
        print(f"scale: {files} manifests stored", flush=True)
        nc = await natsutil.connect(nats.url, name="bench-watch", login=nats.login())
        js = nc.jetstream()
        beats, stop = Beats(nats, trust), asyncio.Event()
        beating = asyncio.create_task(beats.run(stop))
        try:
            start = time.monotonic()
            with _index(nats, trust, work) as (pid, address):
                print(f"scale: index pid {pid}", flush=True)
                channel = grpc.aio.secure_channel(address, channel_credentials())
                index = index_pb2_grpc.IndexServiceStub(channel)
                deadline = time.monotonic() + 600
                while await _health_files(index) != files:
                    assert time.monotonic() < deadline, "the index never counted every file"
                    await asyncio.sleep(0.5)
                ready_s = time.monotonic() - start
                figures.append(
                    Figure(
                        f"scale.index_ready_s_{files // 1000}k", round(ready_s, 2), "s", None, None
                    )
                )
                await asyncio.sleep(5)  # the first rounds' aftermath settles
                cpu0 = _cpu_s(pid) + _cpu_s(nats.proc.pid)
                await asyncio.sleep(IDLE_S)
                idle = (_cpu_s(pid) + _cpu_s(nats.proc.pid) - cpu0) / IDLE_S
                figures.append(
                    Figure.against(
                        f"scale.idle_cpu_cores_{files // 1000}k", idle, "cores", 0.05, "ratio <= 1"
                    )
                )
                figures.append(
                    Figure(
                        f"scale.index_rss_mb_{files // 1000}k",
                        round(_rss_mb(pid), 1),
                        "MB",
                        None,
                        None,
                    )
                )
                print(f"scale: ready in {ready_s:.1f} s, idle {idle:.3f} cores", flush=True)

                list_s, listed = await asyncio.to_thread(_list_all, address)
                assert listed == files, f"ls listed {listed} of {files} files"
                figures.append(
                    Figure.against(f"scale.list_{files // 1000}k_s", list_s, "s", 5.0, "ratio <= 1")
                )
                print(f"scale: ls --all of {listed} files in {list_s:.2f} s", flush=True)

                victim = max(per_node, key=per_node.get)
                beats.silent.add(victim)
                while await _state(index, victim) != types_pb2.NODE_STATE_LOST:
                    await asyncio.sleep(0.05)
                lost_at = time.monotonic()
                want = per_node[victim]
                deadline = lost_at + 300
                queued = QueuedJobs(js)
                while (got := await queued.count()) < want:
                    assert time.monotonic() < deadline, f"only {got} of {want} jobs queued"
                    await asyncio.sleep(0.05)
                plan_s = time.monotonic() - lost_at
                figures.append(
                    Figure.against(
                        f"scale.repair_plan_s_{files // 1000}k", plan_s, "s", 10.0, "ratio <= 1"
                    )
                )
                print(f"scale: {want} repair jobs queued {plan_s:.2f} s after LOST", flush=True)
                await channel.close()
        finally:
            stop.set()
            await beating
            await nc.close()
    return figures


def measure(work: Path, files: int = FILES) -> list[Figure]:
    work.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_measure(work, files))


if __name__ == "__main__":
    import shutil

    from bench import results

    count = int(sys.argv[1]) if len(sys.argv) > 1 else FILES
    root = Path(tempfile.mkdtemp(prefix="stratos-bench-scale-"))
    try:
        figs = measure(root, count)
    finally:
        with suppress(OSError):  # the index's log, for a look at what its rounds did
            shutil.copy(root / "index.log", Path(tempfile.gettempdir()) / "stratos-scale-index.log")
        shutil.rmtree(root, ignore_errors=True)
    results.show(figs)
