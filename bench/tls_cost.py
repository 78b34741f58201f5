"""What mutual TLS costs a 256 MiB put (R=3) and get: the local mesh as `stratos dev up` runs it
(TLS on) against the same processes in plaintext (`plaintext_service.py`, tests-only), both up at
once, measured in turns so that the machine's noise falls on both alike; the best of each.

The issue asks for ratios of at least 0.9. Measured on this 2-core machine, grpcio's own mutual
TLS moves 1 MiB streaming messages at 0.61-0.70 of its plaintext speed with no Stratos code at all
(`grpc_loopback` with `tls_dir`): the receiving end decrypts in grpc core's secure endpoint, on
the same two cores. So the get figure is also reported against that raw ratio, measured in the
same turns: `storage.get_256MiB_tls_cost_vs_grpc` is the mesh's TLS ratio over grpcio's, 1.0
when the mesh adds nothing to what TLS itself costs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc.experimental import insecure_channel_credentials

from bench import grpc_loopback, paid, storage
from bench.results import Figure
from stratos.common.grpcutil import check_health
from stratos.common.identity import Identity
from stratos.common.procs import free_port, wait_until
from stratos.common.procs import stop as stop_process
from stratos.common.testing import TrustedMesh, nats_server
from stratos.sdk.client import MeshClient
from stratos.sdk.home import Home
from stratos.sdk.meshtls import local_client_tls

ENTRY = Path(__file__).resolve().parents[1] / "e2e" / "plaintext_service.py"
MiB = 1 << 20


@dataclass(frozen=True)
class Mesh:
    index_address: str
    credentials: grpc.ChannelCredentials


@contextlib.contextmanager
def plaintext_mesh(root: Path, nodes: int = 3) -> Iterator[Mesh]:
    """nats-server, one index and `nodes` storage nodes serving gRPC in plaintext."""
    (root / "nats").mkdir(parents=True, exist_ok=True)
    trust = TrustedMesh(root / "trust", mesh_id="plaintext")  # admitted as `dev up` admits
    trust.root.mkdir(parents=True, exist_ok=True)
    _, index_env = trust.meta("plain-index")
    with nats_server(root / "nats") as nats, contextlib.ExitStack() as stack:
        base = {
            **os.environ,
            **trust.env,
            "STRATOS_NATS_URL": nats.url,
            "STRATOS_LOG_LEVEL": "warning",
        }
        index = f"127.0.0.1:{free_port()}"
        procs = [_spawn(stack, root, "index", {**base, **index_env, "STRATOS_GRPC_ADDRESS": index})]
        for i in range(1, nodes + 1):
            trust.storage(f"plain-{i}", root / f"plain-{i}")
            env = {
                **base,
                "STRATOS_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
                "STRATOS_NODE_ID": f"plain-{i}",
                "STRATOS_DATA_DIR": str(root / f"plain-{i}"),
                "STRATOS_CAPACITY_BYTES": str(64 << 30),
                "STRATOS_HEARTBEAT_INTERVAL_S": "0.5",
            }
            procs.append(_spawn(stack, root, "storage", env, f"plain-{i}"))
        creds = insecure_channel_credentials()
        wait_until(
            lambda: (
                all(p.poll() is None for p in procs)
                and asyncio.run(check_health(index, creds))
                and asyncio.run(_live(index, creds)) >= nodes
            ),
            timeout_s=60,
            what="the plaintext mesh",
        )
        yield Mesh(index, creds)


def _spawn(stack, root: Path, kind: str, env: dict, name: str = "") -> subprocess.Popen:
    log = open(root / f"{name or kind}.log", "ab")  # noqa: SIM115 - closed by the stack
    stack.callback(log.close)
    proc = subprocess.Popen([sys.executable, str(ENTRY), kind], env=env, stdout=log, stderr=log)

    stack.callback(stop_process, proc)
    return proc


async def _live(index: str, creds: grpc.ChannelCredentials) -> int:
    from stratos.v1 import types_pb2

    try:
        async with MeshClient([index], Identity.generate(), credentials=creds) as client:
            nodes = await client.list_nodes()
    except Exception:  # not up yet: asked again
        return 0
    return sum(n.state == types_pb2.NODE_STATE_LIVE for n in nodes)


def measure(home: Home, work: Path, rounds: int = 2, size: int = 256 * MiB) -> list[Figure]:
    """With the TLS mesh of `home` running: start a plaintext one beside it, then put and get
    the same file on each in turn, `rounds` times."""
    tls = Mesh(home.index_addresses()[0], local_client_tls(home).channel_credentials())
    src = storage.make_file(work / "tls-cost.bin", size)
    out = Path(storage.TMPFS) / f"stratos-tls-cost-{os.getpid()}.out"
    best = {"on": (0.0, 0.0), "off": (0.0, 0.0)}
    raw = {"on": 0.0, "off": 0.0}  # grpcio alone, 1 MiB messages, tuned like our processes
    root = work / "plaintext-mesh"
    root.mkdir(parents=True, exist_ok=True)
    try:
        with plaintext_mesh(root) as plain:
            for _ in range(rounds):
                for label, mesh in (("on", tls), ("off", plain)):
                    put, get = asyncio.run(
                        paid.put_get(
                            [mesh.index_address], mesh.credentials, Identity.generate(), src, out
                        )
                    )
                    best[label] = (max(best[label][0], put), max(best[label][1], get))
                    print(f"tls {label}: put {put:.0f} MB/s, get {get:.0f} MB/s", flush=True)
                    tls_dir = work / "raw-grpc-tls" if label == "on" else None
                    speed = grpc_loopback.streaming_throughput(tuned=True, tls_dir=tls_dir)
                    raw[label] = max(raw[label], speed)
                    print(f"raw grpc tls {label}: {speed:.0f} MB/s", flush=True)
    finally:
        src.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    (on_put, on_get), (off_put, off_get) = best["on"], best["off"]
    return [
        Figure("storage.put_256MiB_r3_tls_off", round(off_put, 3), "MB/s", None, None),
        Figure("storage.get_256MiB_tls_off", round(off_get, 3), "MB/s", None, None),
        Figure.against("storage.put_256MiB_r3_tls_vs_off", on_put, "MB/s", off_put, "ratio >= 0.9"),
        Figure.against("storage.get_256MiB_tls_vs_off", on_get, "MB/s", off_get, "ratio >= 0.9"),
        Figure.against("bound.grpc_loopback_tls_vs_off", raw["on"], "MB/s", raw["off"], ""),
        Figure.against(
            "storage.get_256MiB_tls_cost_vs_grpc",
            on_get / off_get,
            "ratio",
            raw["on"] / raw["off"],
            "ratio >= 0.9",
        ),
    ]


if __name__ == "__main__":  # `python -m bench.tls_cost`: only these figures, on a fresh mesh
    import shutil
    import tempfile

    from bench import results
    from stratos.common.memory import keep_buffers_in_heap
    from stratos.sdk import localmesh

    keep_buffers_in_heap()
    work = Path(tempfile.mkdtemp(prefix="stratos-bench-tls-"))
    home = Home(work / "home")
    try:
        localmesh.up(home, storage_nodes=3, capacity_bytes=64 << 30, validators=0)
        try:
            figures = measure(home, work)
        finally:
            localmesh.down(home)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.show(figures)
