"""Integration tier for the STOS ledger in the local mesh, driven through the real `stratos` CLI
in a temporary STRATOS_HOME: four validators start from a genesis that funds the local user,
a transfer commits, every validator reaches the same height, one validator is killed and
restarted, and the mesh stops."""

from __future__ import annotations

import time

import pytest
from devharness import Dev

pytestmark = pytest.mark.integration


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
