"""Integration tier for the STOS ledger in the local mesh, driven through the real `stratos` CLI
in a temporary STRATOS_HOME: four validators start from a genesis that funds the local user,
a transfer commits, every validator reaches the same height, one validator is killed and
restarted, and the mesh stops."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stratos.sdk.home import Home

pytestmark = pytest.mark.integration

FAST_ENV = {
    "STRATOS_HEARTBEAT_INTERVAL_S": "0.5",
    "STRATOS_SUSPECT_AFTER_S": "2",
    "STRATOS_LOST_AFTER_S": "6",
}


class Dev:
    def __init__(self, root: Path) -> None:
        self.home = Home(root)
        self.env = {**os.environ, **FAST_ENV, "STRATOS_HOME": str(root)}
        for var in ("STRATOS_INDEX_ADDRESS", "STRATOS_CONSENSUS_ADDRESS", "STRATOS_DEBUG"):
            self.env.pop(var, None)

    def run(self, *args: str, check: bool = True, timeout: float = 120):
        proc = subprocess.run(
            [sys.executable, "-m", "stratos.sdk", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"stratos {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def dev(tmp_path) -> Iterator[Dev]:
    d = Dev(tmp_path / "home")
    try:
        yield d
    finally:
        if d.home.mesh_file.exists():
            pids = [p["pid"] for p in json.loads(d.home.mesh_file.read_text())["processes"]]
            d.run("dev", "down", check=False)
            for pid in filter(None, pids):  # whatever the test did, nothing outlives it
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()


def same_height(dev: Dev, n: int, timeout_s: float = 30.0) -> dict:
    """`chain status --json` once all `n` validators are healthy at one height and block."""
    deadline = time.monotonic() + timeout_s
    while True:
        doc = dev.json("chain", "status")
        vals = doc["validators"]
        heights = {v["height"] for v in vals}
        hashes = {v["last_block_hash"] for v in vals}
        if (
            len(vals) == n
            and all(v["health"] == "healthy" for v in vals)
            and len(heights) == 1
            and len(hashes) == 1
        ):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"validators did not converge: {vals}")
        time.sleep(0.3)


def test_a_transfer_commits_on_the_local_chain(dev):
    up = dev.run("dev", "up", "--storage-nodes", "3", "--validators", "4", timeout=180)
    assert "validator-4" in up.stderr
    genesis = dev.home.genesis_file.read_text()

    mine = dev.json("balance")
    assert mine["balance"] == "1000000"
    assert mine["address"] == dev.json("wallet", "show")["address"]

    bob = dev.run("wallet", "new", "bob").stdout.strip()
    sent = dev.run("send", bob, "12.5", timeout=60)
    lines = sent.stdout.strip().splitlines()
    assert "committed at height" in lines[0] and lines[1].startswith("tx ")
    assert dev.json("balance", bob)["balance"] == "12.5"
    after = dev.json("balance")
    assert after["nonce"] == 1 and after["balance_nstos"] < 10**15 - 12_500_000_000

    doc = same_height(dev, 4)
    assert doc["chain_id"] == "stratos-local" and doc["height"] >= 1
    assert {v["name"] for v in doc["validators"]} == {f"validator-{i}" for i in range(1, 5)}
    block = dev.json("chain", "block", lines[0].rsplit(" ", 1)[1])
    assert [t["to"] for t in block["txs"]] == [bob]

    rows = {r["name"]: r for r in dev.json("dev", "status")}
    assert rows["validator-1"]["kind"] == "validator" and rows["validator-1"]["height"] >= 1

    dev.run("dev", "kill", "validator-2")
    doc = dev.json("chain", "status")
    assert next(v for v in doc["validators"] if v["name"] == "validator-2")["health"] == "down"
    dev.run("send", bob, "1", timeout=60)  # 3 of 4 still commit
    dev.run("dev", "start", "validator-2")
    same_height(dev, 4)

    dev.run("dev", "down")
    dev.run("dev", "up", "--storage-nodes", "3", timeout=180)  # the default keeps the chain
    assert dev.home.genesis_file.read_text() == genesis
    assert dev.json("balance", bob)["balance"] == "13.5"
    dev.run("dev", "down")
