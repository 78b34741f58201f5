"""Consensus figures: 4 validator processes of one chain on loopback, with their own genesis and
temp dirs, every process ended before `measure` returns.

- `bound.ed25519_verify_1core`: `Ed25519PublicKey.verify` of a tx-sized message in a tight loop
  on one core for ~2 s, before the cluster starts.
- `consensus.empty_blocks_per_s`: no load; blocks arriving on a `StreamBlocks` stream from
  validator 0 over ~10 s (intervals between the first and the last arrival in the window).
- `consensus.transfers_per_s`: `SENDERS` funded accounts in the genesis each submit pre-signed
  transfers in nonce order over its own `SubmitTxs` stream (one tx answered at a time, no
  waiting for commit) to one validator (sender i → validator
  i mod 4; one validator per sender so its nonces arrive in order); at most `MAX_OUTSTANDING`
  submitted txs are uncommitted at any time (a closed loop: enough to fill every block, without
  piling a mempool-sized queue in front of the latency figures). Counted: txs with result OK in
  the blocks whose arrival on the stream falls in the `WINDOW_S` window after `WARMUP_S` of load.
  Never submits.
- `consensus.commit_latency_p50_s` / `_p99_s`: for every tx submitted inside that window, the
  time from just before it is written to its `SubmitTxs` stream to the arrival on the block
  stream of the block holding it.
- `consensus.transfers_per_s_100k_accounts`: the same load on a second chain whose genesis also
  funds `BIG_ACCOUNTS` other accounts, each transfer paying one of them (so a block touches
  accounts spread over the whole state); against the same verify bound. Also printed: how long
  the genesis file took to write and the validators to load it and commit height 2.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from blake3 import blake3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.results import Figure
from stratos.common import testing_tls
from stratos.common.identity import Identity, address_of
from stratos.common.procs import env_with, free_port
from stratos.consensus.ledger.genesis import Genesis, GenesisValidator
from stratos.consensus.ledger.state import Params
from stratos.consensus.ledger.tx import SIGN_DOMAIN, build_tx
from stratos.v1 import consensus_pb2, consensus_pb2_grpc, ledger_pb2

VALIDATORS = 4
SENDERS = 128  # as many txs in flight on their streams; 256 gave the same tx/s, twice the latency
TXS_PER_SENDER = 1_000  # 128,000 pre-signed: warm-up + window at up to ~3,500 tx/s
CHAIN_ID = "stratos-bench"
STOS = 10**9
FEE = 1_000  # nstos, the default min_fee
MAX_OUTSTANDING = 1_000  # submitted and not yet committed, across all senders
EMPTY_WINDOW_S = 10.0
WARMUP_S = 10.0  # the first seconds of load are a burst the chain is still absorbing
WINDOW_S = 25.0
DRAIN_S = 15.0
VERIFY_S = 2.0
BIG_ACCOUNTS = 100_000


def ed25519_verifies_per_s(seconds: float = VERIFY_S) -> float:
    """ed25519 verifications per second on one core (this thread), of a tx-sized message."""
    ident = Identity.generate()
    msg = SIGN_DOMAIN + b"\x01" * 110
    sig, pub = ident.sign(msg), ident.private_key.public_key()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            pub.verify(sig, msg)
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


@dataclass
class _Node:
    index: int
    identity: Identity
    port: int
    data_dir: Path
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stderr_tail(self, lines: int = 20) -> str:
        path = self.data_dir / "stderr.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def filler_addresses(n: int) -> list[str]:
    """`n` distinct account addresses (no keys: they only receive), the same in every run."""
    return [blake3(b"bench-account-%d" % i).hexdigest(length=20) for i in range(n)]


@dataclass
class _Cluster:
    root: Path
    senders: list[Identity]
    extra_accounts: list[str] = field(default_factory=list)  # funded in genesis besides senders
    nodes: list[_Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        keys = [Identity.generate() for _ in range(VALIDATORS)]
        self.genesis_file = self.root / "genesis.json"
        genesis = Genesis(
            chain_id=CHAIN_ID,
            genesis_time_unix_ms=int(time.time() * 1000),
            accounts=tuple(
                [(address_of(s.public_bytes), 1_000_000 * STOS) for s in self.senders]
                + [(address_of(k.public_bytes), 10 * STOS) for k in keys]
                + [(a, STOS) for a in self.extra_accounts]
            ),
            validators=tuple(GenesisValidator(k.public_bytes, 1, 100 * STOS) for k in keys),
            params=Params(min_fee=FEE),
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self.genesis_file.write_text(genesis.to_json())
        for i, k in enumerate(keys):
            d = self.root / f"validator-{i}"
            d.mkdir(parents=True)
            key_file = d / "validator.pem"
            key_file.write_bytes(
                k.private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            key_file.chmod(0o600)
            self.nodes.append(_Node(i, k, free_port(), d))

    def start(self) -> None:
        for v in self.nodes:
            peers = ",".join(o.address for o in self.nodes if o is not v)
            with (
                (v.data_dir / "stdout.log").open("a") as out,
                (v.data_dir / "stderr.log").open("a") as err,
            ):
                v.proc = subprocess.Popen(
                    [sys.executable, "-m", "stratos.consensus"],
                    env=env_with(
                        STRATOS_GENESIS_FILE=str(self.genesis_file),
                        STRATOS_DATA_DIR=str(v.data_dir),
                        STRATOS_VALIDATOR_KEY_FILE=str(v.data_dir / "validator.pem"),
                        STRATOS_GRPC_ADDRESS=v.address,
                        STRATOS_PEERS=peers,
                        **testing_tls.cert_files("consensus", f"validator-{v.index}").env(),
                        STRATOS_NATS_URL="",
                        STRATOS_LOG_LEVEL="warning",
                    ),
                    stdout=out,
                    stderr=err,
                )

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the validator processes have used so far."""
        tick, total = os.sysconf("SC_CLK_TCK"), 0.0
        for v in self.nodes:
            try:
                fields = Path(f"/proc/{v.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, AttributeError, IndexError, ValueError):
                pass
        return total

    def check_alive(self) -> None:
        for v in self.nodes:
            if v.proc is not None and v.proc.poll() is not None:
                raise RuntimeError(
                    f"validator {v.index} exited with {v.proc.returncode}:\n{v.stderr_tail()}"
                )

    def stop(self) -> None:
        """SIGTERM every validator, SIGKILL whichever is still up after 10 s."""
        for v in self.nodes:
            if v.proc is not None and v.proc.poll() is None:
                v.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for v in self.nodes:
            if v.proc is None:
                continue
            try:
                v.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                v.proc.kill()
                v.proc.wait(10)


@dataclass
class _Load:
    """Shared state of the load phase: submit times of uncommitted txs, and what committed."""

    outstanding: asyncio.Semaphore
    submitted_at: dict[bytes, float] = field(default_factory=dict)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (submit time, latency)
    blocks: list[tuple[float, int, int]] = field(default_factory=list)  # (arrival, height, ok txs)
    errors: Counter = field(default_factory=Counter)
    stop: bool = False
    exhausted: int = 0  # senders that ran out of pre-signed txs before `stop`
    full_retries: int = 0


async def _watch_blocks(stub: consensus_pb2_grpc.ConsensusServiceStub, load: _Load) -> None:
    async for resp in stub.StreamBlocks(consensus_pb2.StreamBlocksRequest()):
        now = time.monotonic()
        ok = sum(1 for r in resp.results.results if r.code == 0)
        if ok != len(resp.block.txs):
            load.errors["not OK in a block"] += len(resp.block.txs) - ok
        load.blocks.append((now, resp.block.header.height, ok))
        for raw in resp.block.txs:
            t = load.submitted_at.pop(raw, None)
            if t is not None:
                load.latencies.append((t, now - t))
                load.outstanding.release()


async def _sender(
    stub: consensus_pb2_grpc.ConsensusServiceStub, txs: list[bytes], load: _Load
) -> None:
    """Submit `txs` in nonce order over one SubmitTxs stream, one tx answered at a time."""
    call = stub.SubmitTxs()
    try:
        for raw in txs:
            while True:
                await load.outstanding.acquire()
                if load.stop:
                    load.outstanding.release()
                    return
                load.submitted_at[raw] = time.monotonic()
                await call.write(consensus_pb2.SubmitTxsRequest(tx=raw))
                answer = await call.read()
                if answer.code == 0:
                    break
                load.submitted_at.pop(raw, None)
                load.outstanding.release()
                if answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]:  # mempool full
                    load.full_retries += 1
                    await asyncio.sleep(0.05)
                    continue
                # This sender's later nonces cannot enter now: it stops.
                load.errors[f"code {answer.code}: {answer.error}"] += 1
                return
        if not load.stop:
            load.exhausted += 1
    except grpc.aio.AioRpcError as err:
        load.errors[f"{err.code().name}: {err.details()}"] += 1
    finally:
        call.cancel()


async def _wait_ready(cluster: _Cluster, stubs: list, height: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        cluster.check_alive()
        hs = []
        for stub in stubs:
            try:
                st = await stub.Status(consensus_pb2.StatusRequest(), timeout=2)
                hs.append(st.height)
            except grpc.aio.AioRpcError:
                hs.append(-1)
        if min(hs) >= height:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"validators at heights {hs}: not all at {height} in {timeout_s} s")
        await asyncio.sleep(0.3)


async def _empty_blocks_per_s(stub: consensus_pb2_grpc.ConsensusServiceStub) -> float:
    arrivals: list[float] = []

    async def watch() -> None:
        async for _ in stub.StreamBlocks(consensus_pb2.StreamBlocksRequest()):
            arrivals.append(time.monotonic())

    task = asyncio.create_task(watch())
    await asyncio.sleep(EMPTY_WINDOW_S)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if len(arrivals) < 2:
        return 0.0
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


async def _run(
    cluster: _Cluster, signed: list[list[bytes]], *, measure_empty: bool = True
) -> dict[str, float]:
    client = testing_tls.channel_credentials()
    channels = [grpc.aio.secure_channel(v.address, client) for v in cluster.nodes]
    stubs = [consensus_pb2_grpc.ConsensusServiceStub(c) for c in channels]
    try:
        started = time.monotonic()
        await _wait_ready(cluster, stubs, 2, timeout_s=300)
        print(
            f"consensus: 4 validators at height 2 {time.monotonic() - started:.1f} s after start",
            flush=True,
        )
        empty = 0.0
        if measure_empty:
            print("consensus: measuring empty blocks (no load)", flush=True)
            empty = await _empty_blocks_per_s(stubs[0])
            print(f"consensus: {empty:.2f} empty blocks/s", flush=True)

        load = _Load(asyncio.Semaphore(MAX_OUTSTANDING))
        watcher = asyncio.create_task(_watch_blocks(stubs[0], load))
        await asyncio.sleep(0.5)  # the stream is open before the first submit
        t0 = time.monotonic()
        senders = [
            asyncio.create_task(_sender(stubs[i % VALIDATORS], txs, load))
            for i, txs in enumerate(signed)
        ]
        w0, w1 = t0 + WARMUP_S, t0 + WARMUP_S + WINDOW_S
        print(
            f"consensus: load from {SENDERS} senders, ≤ {MAX_OUTSTANDING} uncommitted; "
            f"{WARMUP_S:g} s warm-up, then a {WINDOW_S:g} s window",
            flush=True,
        )
        cpu = None
        while time.monotonic() < w1:
            await asyncio.sleep(5)
            if cpu is None and time.monotonic() >= w0:
                cpu = (time.monotonic(), time.process_time(), cluster.cpu_s())
            cluster.check_alive()
            now = time.monotonic()
            recent = sum(n for t, _, n in load.blocks if t > now - 5)
            height = load.blocks[-1][1] if load.blocks else 0
            print(
                f"consensus: t={now - t0:4.0f} s height {height}, {recent / 5:.0f} tx/s "
                f"over the last 5 s, {len(load.submitted_at)} uncommitted",
                flush=True,
            )
        load.stop = True
        if cpu is not None:
            dt = time.monotonic() - cpu[0]
            print(
                f"consensus: CPU over the last {dt:.0f} s: validators "
                f"{(cluster.cpu_s() - cpu[2]) / dt:.2f} cores, this client "
                f"{(time.process_time() - cpu[1]) / dt:.2f} cores",
                flush=True,
            )
        for _ in range(MAX_OUTSTANDING):  # wake senders blocked on the semaphore
            load.outstanding.release()
        await asyncio.gather(*senders, return_exceptions=True)
        drain_end = time.monotonic() + DRAIN_S
        in_window = [raw for raw, t in load.submitted_at.items() if w0 <= t < w1]
        while time.monotonic() < drain_end and any(r in load.submitted_at for r in in_window):
            await asyncio.sleep(0.2)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)

        window_blocks = [(t, h, n) for t, h, n in load.blocks if w0 <= t < w1]
        committed = sum(n for _, _, n in window_blocks)
        tps = committed / WINDOW_S
        lat = sorted(d for t, d in load.latencies if w0 <= t < w1)
        lost = sum(1 for t in load.submitted_at.values() if w0 <= t < w1)
        if load.errors:
            print(f"consensus: submit errors {dict(load.errors)}", flush=True)
        if load.exhausted:
            # the chain was faster than the load: the figure would measure the load generator
            raise RuntimeError(
                f"{load.exhausted} senders ran out of pre-signed txs before the window ended; "
                "raise TXS_PER_SENDER in bench/consensus.py"
            )
        if lost:
            print(
                f"consensus: WARNING {lost} txs submitted in the window not committed "
                f"{DRAIN_S:g} s after it; counted as {DRAIN_S:g} s+ in the percentiles",
                flush=True,
            )
            lat = sorted(lat + [float(WINDOW_S + DRAIN_S)] * lost)
        sizes = [n for _, _, n in window_blocks]
        print(
            f"consensus: {committed} txs in {len(window_blocks)} blocks in {WINDOW_S:g} s "
            f"(mean {statistics.mean(sizes) if sizes else 0:.0f} txs/block), "
            f"{len(lat)} latencies, {load.full_retries} mempool-full retries",
            flush=True,
        )
        if not lat:
            raise RuntimeError("no tx submitted in the window committed")
        return {
            "empty": empty,
            "tps": tps,
            "p50": _percentile(lat, 0.50),
            "p99": _percentile(lat, 0.99),
        }
    finally:
        for c in channels:
            await c.close()


def _percentile(sorted_values: list[float], q: float) -> float:
    i = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[i]


def _signed_transfers(senders: list[Identity], targets: list[str]) -> list[list[bytes]]:
    """`TXS_PER_SENDER` transfers of 1 nstos per sender, in nonce order; tx n of sender i pays
    `targets[(i * TXS_PER_SENDER + n) % len(targets)]`."""
    t = time.perf_counter()
    signed = [
        [
            build_tx(
                s,
                chain_id=CHAIN_ID,
                nonce=n,
                fee=FEE,
                transfer=ledger_pb2.Transfer(
                    to=targets[(i * TXS_PER_SENDER + n) % len(targets)], amount=1
                ),
            )
            for n in range(TXS_PER_SENDER)
        ]
        for i, s in enumerate(senders)
    ]
    print(
        f"consensus: {SENDERS * TXS_PER_SENDER} transfers pre-signed in "
        f"{time.perf_counter() - t:.1f} s",
        flush=True,
    )
    return signed


def _load_run(
    work: Path, senders: list[Identity], signed: list[list[bytes]], **kw
) -> dict[str, float]:
    """One chain: write its genesis, start the validators, measure, stop them."""
    extra = kw.pop("extra_accounts", [])
    t = time.perf_counter()
    cluster = _Cluster(work, senders, extra)
    print(
        f"consensus: genesis of {len(senders) + VALIDATORS + len(extra)} accounts written in "
        f"{time.perf_counter() - t:.1f} s ({cluster.genesis_file.stat().st_size / 1e6:.1f} MB); "
        f"starting {VALIDATORS} validators",
        flush=True,
    )
    try:
        cluster.start()
        return asyncio.run(_run(cluster, signed, **kw))
    finally:
        cluster.stop()


def measure(work: Path) -> list[Figure]:
    """Run the consensus part in `work` (created; left for the caller to remove)."""
    verifies = ed25519_verifies_per_s()
    cores = os.cpu_count() or 1
    bound = verifies * cores / VALIDATORS
    print(
        f"bounds: ed25519 verify {verifies:.0f}/s on one core; x {cores} cores / {VALIDATORS} "
        f"validators = {bound:.0f} tx/s",
        flush=True,
    )
    senders = [Identity(Ed25519PrivateKey.generate()) for _ in range(SENDERS)]
    addrs = [address_of(s.public_bytes) for s in senders]
    # sender i pays sender i + 1, as before the 100k-account figure existed
    small = _signed_transfers(senders, addrs[1:] + addrs[:1])
    r = _load_run(work / "small", senders, small)
    del small
    extra = filler_addresses(BIG_ACCOUNTS)
    big = _load_run(
        work / "100k-accounts",
        senders,
        _signed_transfers(senders, extra),
        extra_accounts=extra,
        measure_empty=False,
    )
    return [
        Figure.against("consensus.transfers_per_s", r["tps"], "tx/s", bound, "ratio >= 0.25"),
        Figure.against(
            "consensus.transfers_per_s_100k_accounts", big["tps"], "tx/s", bound, "ratio >= 0.25"
        ),
        Figure.against("consensus.commit_latency_p50_s", r["p50"], "s", 1.0, "<= 1"),
        Figure("consensus.commit_latency_p99_s", round(r["p99"], 3), "s", None, None, ""),
        Figure("consensus.empty_blocks_per_s", round(r["empty"], 3), "blocks/s", None, None, ""),
        Figure("bound.ed25519_verify_1core", round(verifies, 1), "verify/s", None, None),
    ]
