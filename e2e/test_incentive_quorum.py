"""Three incentive replicas — three bonded meta nodes — settling Proof-of-Traffic on a real local
mesh: each epoch settles once whoever submits it; with one replica down the other two (2/3)
still settle; with two down the chain waits, and settles every waiting epoch, once, when one
comes back. A storage node whose copies fail their audits is slashed in the next settled epoch;
honest nodes never are."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.chainwatch import SETTLE_TIMEOUT_S, Settled, storage_address
from e2e.conftest import FAST_ENV, Mesh, random_file
from stratos.common.identity import address_of, load_or_create

pytestmark = [pytest.mark.integration, pytest.mark.attack]

KiB = 1024
NODES = ("storage-1", "storage-2", "storage-3")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory) -> Iterator[Mesh]:
    """Three storage nodes, one validator and three incentive replicas; audits twice as often
    as by default, so a corrupt copy is found within a few seconds."""
    home = tmp_path_factory.mktemp("quorum") / "home"
    env = {**os.environ, **FAST_ENV, "STRATOS_HOME": str(home), "STRATOS_AUDIT_INTERVAL_S": "2"}
    env.pop("STRATOS_INDEX_ADDRESS", None)
    m = Mesh(home, env)
    m.stratos(
        "dev", "up", "--storage-nodes", "3", "--validators", "1", "--incentive", "3",
        timeout=180, check=True,
    )  # fmt: skip
    try:
        yield m
    finally:
        m.stratos("dev", "down", timeout=60)


def replica_address(mesh: Mesh, name: str) -> str:
    return address_of(load_or_create(mesh.home / "run" / name / "identity.pem").public_bytes)


def put_stored(mesh: Mesh, path: Path) -> int:
    """Put `path`; the bytes one copy of it takes on a node."""
    put = mesh.json("put", str(path))
    return sum(s["stored_size"] for s in mesh.json("stat", put["id"])["segments"])


def wait_debited(mesh: Mesh, ozone0: int, amount: int, watch: Settled) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while ozone0 - mesh.json("balance")["ozone"] < amount:
        assert time.monotonic() < deadline, f"{amount} ozone were not settled"
        watch.poll()
        time.sleep(1.0)
    watch.poll()


def test_three_replicas_settle_each_epoch_once_with_two_thirds_of_them(
    mesh: Mesh, tmp_path: Path
) -> None:
    metas = {n: replica_address(mesh, n) for n in ("incentive-1", "incentive-2", "incentive-3")}
    watch = Settled(mesh)
    start = watch.poll()["current_epoch"]
    ozone0 = mesh.json("balance")["ozone"]
    stored = put_stored(mesh, random_file(tmp_path / "a.bin", 200 * KiB, seed=1))
    wait_debited(mesh, ozone0, 3 * stored, watch)
    assert ozone0 - mesh.json("balance")["ozone"] == 3 * stored  # once, not three times

    # one replica down: the other two are 2/3 and settle alone
    mesh.stratos("dev", "kill", "incentive-3", check=True)
    ozone0 = mesh.json("balance")["ozone"]
    stored = put_stored(mesh, random_file(tmp_path / "b.bin", 150 * KiB, seed=2))
    wait_debited(mesh, ozone0, 3 * stored, watch)
    assert ozone0 - mesh.json("balance")["ozone"] == 3 * stored
    last = watch.poll()["last_settled"]
    assert set(last["signers"]) <= {metas["incentive-1"], metas["incentive-2"]}
    assert len(last["signers"]) == 2

    # every settled epoch so far (at least three) is in the chain once, and the honest nodes,
    # audited all along, were never slashed
    watch.until_settled(start + 2)
    through = watch.poll()["next_to_settle"] - 1
    shown = mesh.json("rewards", "--epochs", str(through - start + 1))
    epochs = [e["epoch"] for e in shown["epochs"]]
    assert sorted(epochs) == list(range(start, through + 1)), epochs  # each once, none missing
    assert all(e["nodes_slashed"] in (None, "0") for e in shown["epochs"])
    assert all(n["audits_failed"] == 0 for n in shown["nodes"])


def test_below_two_thirds_the_chain_waits_and_settles_once_when_a_replica_returns(
    mesh: Mesh, tmp_path: Path
) -> None:
    mesh.stratos("dev", "kill", "incentive-3", timeout=30)  # down already, or now
    mesh.stratos("dev", "kill", "incentive-2", check=True)
    watch = Settled(mesh)
    ozone0 = mesh.json("balance")["ozone"]
    stored = put_stored(mesh, random_file(tmp_path / "c.bin", 120 * KiB, seed=3))
    stuck = watch.poll()
    # two whole epochs end with one signer of three: nothing settles, nobody is charged
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while watch.poll()["current_epoch"] < stuck["current_epoch"] + 2:
        assert time.monotonic() < deadline, "the chain stopped making epochs"
        time.sleep(1.0)
    now = watch.poll()
    assert now["next_to_settle"] <= stuck["current_epoch"]
    assert mesh.json("balance")["ozone"] == ozone0
    waiting = now["current_epoch"] - now["next_to_settle"]
    assert waiting >= 2

    mesh.stratos("dev", "start", "incentive-2", check=True)
    wait_debited(mesh, ozone0, 3 * stored, watch)
    watch.until_settled(now["current_epoch"] - 1)
    assert ozone0 - mesh.json("balance")["ozone"] == 3 * stored  # every waiting epoch, once
    back = watch.poll()["next_to_settle"] - 1
    shown = mesh.json("rewards", "--epochs", str(back - now["next_to_settle"] + 1))
    epochs = sorted(e["epoch"] for e in shown["epochs"])
    assert epochs == list(range(now["next_to_settle"], back + 1))
    assert sum(n["bytes"] for n in shown["nodes"]) == 3 * stored
    mesh.stratos("dev", "start", "incentive-3", check=True)


def test_a_node_whose_copies_fail_audits_is_slashed_in_the_next_settled_epoch(
    mesh: Mesh, tmp_path: Path
) -> None:
    """storage-2's disk rots: every chunk file it holds is overwritten. The index's audits catch
    it, the next settled report counts the failures against storage-2 alone, and the ledger
    turns them into a debt its rewards pay first. (Runs last: it corrupts storage-2.)"""
    for i in range(3):
        put_stored(mesh, random_file(tmp_path / f"r{i}.bin", 64 * KiB, seed=40 + i))
    watch = Settled(mesh)
    first = watch.poll()["current_epoch"]
    bad = storage_address(mesh, "storage-2")
    rotted = [p for p in (mesh.home / "run" / "storage-2" / "chunks").rglob("*") if p.is_file()]
    assert rotted
    for p in rotted:
        p.write_bytes(os.urandom(p.stat().st_size))

    deadline = time.monotonic() + 2 * SETTLE_TIMEOUT_S
    slashed_in = None
    while slashed_in is None:
        assert time.monotonic() < deadline, "storage-2's failed audits were never settled"
        watch.fill(range(first, watch.poll()["next_to_settle"]))
        for epoch, report in sorted(watch.reports.items()):
            if epoch >= first and any(
                t["node"] == bad and t["audits_failed"] > 0 for t in report["traffic"]
            ):
                slashed_in = epoch
                break
        time.sleep(1.0)
    report = watch.reports[slashed_in]
    failed = {t["node"]: t["audits_failed"] for t in report["traffic"]}
    honest = {storage_address(mesh, n) for n in NODES if n != "storage-2"}
    assert all(failed.get(a, 0) == 0 for a in honest), failed
    shown = mesh.json("rewards", "--epochs", str(watch.poll()["next_to_settle"] - first))
    settled = next(e for e in shown["epochs"] if e["epoch"] == slashed_in)
    assert settled["nodes_slashed"] == "1"
    rows = {n["node"]: n for n in shown["nodes"]}
    assert rows[bad]["slashed_nstos"] >= 10**9  # audit_slash: 1 STOS a failed audit
    assert all(rows[a]["slashed_nstos"] == 0 for a in honest if a in rows)
    # the debt is on the ledger: what the rewards have not yet paid of it, and the node is
    # still bonded (1,000 STOS deposit; suspended only at a debt of half of it)
    node = mesh.json("balance", bad)["node"]
    assert node["role"] == "resource" and node["deposit_nstos"] == 1000 * 10**9
    assert not node["suspended"]
    assert node["debt_nstos"] <= rows[bad]["slashed_nstos"]
    text = mesh.stratos("balance", bad, check=True).stdout
    assert "resource node: 1000 STOS deposit, bonded" in text
