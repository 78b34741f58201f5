"""Helpers for the node tests: a cluster of real validator processes on loopback, built from a
genesis written here, and the checks every test ends with (no fork anywhere).

A plain cluster runs `python -m stratos.consensus` as an operator does. With `faulty=True`
every validator runs through `faulty_validator.py` instead — the same service with its peer
links wrapped — so `block()` can cut links and `start(i, equivocate=...)` makes one Byzantine."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.identity import Identity, address_of
from stratos.common.procs import async_wait_until, env_with, free_port
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.consensus.ledger.genesis import Genesis, GenesisValidator
from stratos.consensus.ledger.state import Params
from stratos.consensus.ledger.tx import build_tx
from stratos.consensus.node.store import Store
from stratos.v1 import consensus_pb2, consensus_pb2_grpc, ledger_pb2

STOS = 10**9
CHAIN_ID = "node-test"
FAULTY_VALIDATOR = Path(__file__).parent / "faulty_validator.py"
FEE = 1_000
# Short rounds so that faults cost seconds, not tens of seconds, on a loaded test machine.
FAST_ENV = {
    "STRATOS_TIMEOUT_PROPOSE_S": "1.0",
    "STRATOS_TIMEOUT_PREVOTE_S": "0.3",
    "STRATOS_TIMEOUT_PRECOMMIT_S": "0.3",
    "STRATOS_TIMEOUT_DELTA_S": "0.3",
    "STRATOS_CREATE_EMPTY_BLOCKS_INTERVAL_S": "0.3",
    "STRATOS_GOSSIP_INTERVAL_S": "0.3",
    "STRATOS_SYNC_INTERVAL_S": "0.5",
    "STRATOS_LOG_LEVEL": "info",
}


def key(n: int) -> Identity:
    """A fixed identity, the same in every process."""
    return Identity(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


def addr(ident: Identity) -> str:
    return address_of(ident.public_bytes)


ALICE, BOB = key(101), key(102)

# A channel to a validator that is not listening yet (still importing on a loaded machine) or was
# killed backs off its reconnects exponentially, to minutes by default, and fails every call
# meanwhile: the test would see a live validator as down. Retry at least once a second instead.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def write_genesis(path: Path, validators: list[Identity]) -> Genesis:
    g = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_unix_ms=1_700_000_000_000,
        accounts=tuple([(addr(ALICE), 1_000 * STOS)] + [(addr(v), 10 * STOS) for v in validators]),
        validators=tuple(
            GenesisValidator(v.public_bytes, power=1, deposit=100 * STOS) for v in validators
        ),
        params=Params(min_fee=FEE),
    )
    path.write_text(g.to_json())
    return g


def write_key(path: Path, ident: Identity) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        ident.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def transfer(sender: Identity, to: str, amount: int, nonce: int, fee: int = FEE) -> bytes:
    return build_tx(
        sender,
        chain_id=CHAIN_ID,
        nonce=nonce,
        fee=fee,
        transfer=ledger_pb2.Transfer(to=to, amount=amount),
    )


@dataclass
class Validator:
    index: int
    identity: Identity
    port: int
    data_dir: Path
    blocked_file: Path
    proc: subprocess.Popen | None = None
    channel: grpc.aio.Channel | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr(self) -> str:
        path = self.data_dir / "stderr.log"
        return path.read_text() if path.exists() else ""

    @property
    def stub(self) -> consensus_pb2_grpc.ConsensusServiceStub:
        if self.channel is None:
            self.channel = grpc.aio.secure_channel(
                self.address, channel_credentials(), options=CHANNEL_OPTIONS
            )
        return consensus_pb2_grpc.ConsensusServiceStub(self.channel)


@dataclass
class Cluster:
    """N validator processes of one chain on loopback; `close()` kills every one."""

    root: Path
    n: int
    env: dict[str, str] = field(default_factory=dict)
    faulty: bool = False  # run validators through faulty_validator.py (block(), equivocate)
    nodes: list[Validator] = field(default_factory=list)

    def __post_init__(self) -> None:
        keys = [key(i + 1) for i in range(self.n)]
        self.genesis_file = self.root / "genesis.json"
        self.genesis = write_genesis(self.genesis_file, keys)
        for i, k in enumerate(keys):
            d = self.root / f"validator-{i}"
            write_key(d / "validator.pem", k)
            blocked = self.root / f"blocked-{i}"
            self.nodes.append(Validator(i, k, free_port(), d, blocked))

    def start(self, i: int, *, equivocate: str | None = None) -> None:
        """Start validator i; `equivocate` ("all", "prevote", "precommit") makes it Byzantine."""
        v = self.nodes[i]
        assert not v.alive
        if self.faulty:
            argv = [str(FAULTY_VALIDATOR), "--blocked-peers-file", str(v.blocked_file)]
            argv += ["--equivocate", equivocate] if equivocate else []
        else:
            assert equivocate is None, "a Byzantine validator needs Cluster(faulty=True)"
            argv = ["-m", "stratos.consensus"]
        peers = ",".join(o.address for o in self.nodes if o is not v)
        log = (v.data_dir / "stdout.log").open("a")
        err = (v.data_dir / "stderr.log").open("a")
        v.proc = subprocess.Popen(
            [sys.executable, *argv],
            env=env_with(
                STRATOS_GENESIS_FILE=str(self.genesis_file),
                STRATOS_DATA_DIR=str(v.data_dir),
                STRATOS_GRPC_ADDRESS=v.address,
                **cert_files("consensus", "consensus").env(),
                STRATOS_PEERS=peers,
                **{**FAST_ENV, **self.env},
            ),
            stdout=log,
            stderr=err,
        )
        log.close()
        err.close()

    def start_all(self) -> None:
        for i in range(self.n):
            self.start(i)

    async def block(self, blocked: dict[int, list[str]], timeout_s: float = 30) -> None:
        """Give validators their blocked peers (`partition.BlockedPeersFile`) and wait until
        each has applied them: it re-reads its file at most once a second, and only when the
        node uses its network, which a busy machine can delay."""
        assert self.faulty, "cutting links needs Cluster(faulty=True)"
        for j, peers in blocked.items():
            self.nodes[j].blocked_file.write_text("".join(f"{p}\n" for p in peers))

        async def applied() -> bool:
            return all(blocked_now(self.nodes[j]) == sorted(p) for j, p in blocked.items())

        await async_wait_until(applied, timeout_s=timeout_s, what="every hook to apply the cut")

    def kill(self, i: int) -> None:
        """SIGKILL: no chance to flush or say goodbye."""
        v = self.nodes[i]
        assert v.proc is not None
        v.proc.send_signal(signal.SIGKILL)
        v.proc.wait(10)

    def alive(self) -> list[Validator]:
        return [v for v in self.nodes if v.alive]

    async def close(self) -> None:
        """SIGTERM every validator (SIGKILL after 10 s); then no validator may have written a
        traceback, and every one stopped by SIGTERM must have exited 0."""
        terminated = [v for v in self.nodes if v.alive]
        for v in self.nodes:
            if v.alive:
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
            if v.channel is not None:
                await v.channel.close()
                v.channel = None
        for v in self.nodes:
            assert "Traceback" not in v.stderr(), f"validator {v.index}: {v.stderr()}"
        for v in terminated:
            assert v.proc.returncode == 0, f"validator {v.index} exited {v.proc.returncode}"

    # ---- observations -------------------------------------------------------------------

    async def status(self, i: int) -> consensus_pb2.StatusResponse | None:
        v = self.nodes[i]
        if not v.alive:
            return None
        try:
            return await v.stub.Status(consensus_pb2.StatusRequest(), timeout=2)
        except grpc.aio.AioRpcError:
            return None

    async def heights(self, nodes: list[int] | None = None) -> dict[int, int]:
        idx = nodes if nodes is not None else [v.index for v in self.alive()]
        sts = await asyncio.gather(*(self.status(i) for i in idx))
        return {i: (s.height if s is not None else -1) for i, s in zip(idx, sts, strict=True)}

    async def wait_heights(
        self, at_least: int, nodes: list[int] | None = None, timeout_s: float = 30
    ) -> dict[int, int]:
        """Poll until every node in `nodes` (default: the live ones) is at `at_least`."""
        deadline = time.monotonic() + timeout_s
        while True:
            hs = await self.heights(nodes)
            if hs and min(hs.values()) >= at_least:
                return hs
            for v in self.nodes:
                if v.proc is not None and v.proc.poll() not in (None, -9):
                    raise AssertionError(f"validator {v.index} exited: {v.stderr()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"heights {hs} did not all reach {at_least} in {timeout_s}s")
            await asyncio.sleep(0.2)

    async def block_hashes(self, i: int) -> dict[int, bytes]:
        """Height → block hash as node i reports it (its store, when the process is down)."""
        v = self.nodes[i]
        if not v.alive:
            with Store(v.data_dir / "chain.sqlite") as s:
                return {h: s.get_block_hash(h) for h in range(1, s.latest_height() + 1)}
        st = await self.status(i)
        assert st is not None, f"validator {i} does not answer Status"
        out = {}
        for h in range(1, st.height + 1):
            resp = await v.stub.GetBlock(consensus_pb2.GetBlockRequest(height=h), timeout=5)
            out[h] = resp.block_hash
        return out

    async def assert_same_chain(self) -> int:
        """Every validator reports the same block hash at every height they share; returns the
        number of common heights checked."""
        chains = [await self.block_hashes(v.index) for v in self.nodes if v.proc is not None]
        common = min(len(c) for c in chains)
        for h in range(1, common + 1):
            seen = {c[h] for c in chains}
            assert len(seen) == 1, f"fork at height {h}: {[x.hex()[:12] for x in seen]}"
        return common

    async def balance(self, i: int, address: str) -> int:
        resp = await self.nodes[i].stub.GetAccount(
            consensus_pb2.GetAccountRequest(address=address), timeout=5
        )
        return resp.account.balance

    async def committed_tx_hashes(self, i: int) -> set[str]:
        from stratos.consensus.ledger.tx import tx_hash

        st = await self.status(i)
        out: set[str] = set()
        for h in range(1, st.height + 1):
            resp = await self.nodes[i].stub.GetBlock(
                consensus_pb2.GetBlockRequest(height=h), timeout=5
            )
            out.update(tx_hash(raw) for raw in resp.block.txs)
        return out


def blocked_now(v: Validator) -> list[str] | None:
    """The blocked set the validator last logged applying (None before any)."""
    last = None
    for line in (v.data_dir / "stdout.log").read_text().splitlines():
        if '"test_blocked_peers"' in line and line.endswith("}"):  # a whole line only
            last = json.loads(line)["peers"]
    return last
