"""The mesh heals and balances itself (issue 4), seen through the CLI: lost nodes' chunks are
copied back to full redundancy with nobody doing anything, erasure-coded files survive two
losses and are re-encoded, a joining node takes only its share, and a drain empties a node or is
refused when it would break redundancy."""

from __future__ import annotations

import random
import time

from e2e.conftest import Mesh, random_file, same_bytes
from e2e.test_files import assert_one_sentence_error
from stratos.common.procs import wait_until

MiB = 1 << 20
# Repair runs every 0.5 s here instead of 2 s, so a heal takes seconds.
HEAL_ENV = {"STRATOS_REPAIR_INTERVAL_S": "0.5"}


def healthy(mesh: Mesh, files: int) -> bool:
    h = mesh.json("health")
    return h["files"] == files and h["healthy"] == files and h["bytes_to_repair"] == 0


def wait_healthy(mesh: Mesh, files: int, timeout_s: float = 90) -> dict:
    wait_until(
        lambda: healthy(mesh, files), timeout_s=timeout_s, interval_s=1, what="every file healthy"
    )
    return mesh.json("health")


def assert_all_read_back(mesh: Mesh, files: dict, tmp_path) -> None:
    for i, (src, cap) in enumerate(files.items()):
        out = tmp_path / f"read-{i}.out"
        mesh.stratos("get", cap, "-o", str(out), check=True)
        assert same_bytes(src, out), src
        out.unlink()


def copies_per_node(mesh: Mesh) -> dict[str, int]:
    return {n["node_id"]: n["chunks"] for n in mesh.json("health")["nodes"]}


def test_kill_random_nodes_until_r_remain_heals_every_time(mesh_factory, tmp_path):
    # Every round's jobs go in batches here (a lost node's thousands would), run by real storage
    # nodes that check each copy's ticket.
    mesh = mesh_factory(5, **HEAL_ENV, STRATOS_REPAIR_BATCH_FROM="1")
    files = {
        random_file(tmp_path / f"h{i}.bin", 2 * MiB + 1000 * i, seed=40 + i): "" for i in range(4)
    }
    for src in files:
        files[src] = mesh.json("put", str(src), "--replicas", "3")["cap"]
    h = wait_healthy(mesh, len(files))
    assert h["degraded"] == h["repairing"] == h["unrecoverable"] == 0
    copies = sum(copies_per_node(mesh).values())  # every chunk times R

    rng = random.Random(7)
    alive = [f"storage-{i}" for i in range(1, 6)]
    for _ in range(len(alive) - 3):  # bounded: stop while more than R nodes remain
        victim = rng.choice(alive)
        alive.remove(victim)
        mesh.stratos("dev", "kill", victim, check=True)
        mesh.wait_state(victim, "lost", timeout_s=30)
        h = wait_healthy(mesh, len(files))
        per_node = copies_per_node(mesh)
        # full redundancy again on the survivors (the dead node is still listed as holding
        # its old copies, in case it comes back)
        assert sum(per_node.get(n, 0) for n in alive) == copies
        assert_all_read_back(mesh, files, tmp_path)


def test_two_nodes_lost_at_once_with_ec_4_2_reads_then_repairs(mesh_factory, tmp_path):
    mesh = mesh_factory(8, **HEAL_ENV)
    src = random_file(tmp_path / "coded.bin", 9 * MiB + 17, seed=3)
    put = mesh.json("put", str(src), "--ec", "4+2")
    wait_healthy(mesh, 1)
    stat = mesh.json("stat", put["id"])
    holders = sorted({n for seg in stat["segments"] for s in seg["shares"] for n in s["nodes"]})
    victims = holders[:2]
    for v in victims:
        mesh.stratos("dev", "kill", v, check=True)
    out = tmp_path / "coded.out"
    mesh.stratos("get", put["cap"], "-o", str(out), check=True)  # any 4 of 6 shares
    assert same_bytes(src, out)

    for v in victims:
        mesh.wait_state(v, "lost", timeout_s=30)
    wait_healthy(mesh, 1)
    # Two more of the original holders go: only 2 original shares are left, so the file reads
    # back only through the 2 shares repair re-encoded onto other nodes.
    for v in holders[2:4]:
        mesh.stratos("dev", "kill", v, check=True)
    out.unlink()
    mesh.stratos("get", put["cap"], "-o", str(out), check=True)
    assert same_bytes(src, out)


def test_drain_refused_when_it_breaks_redundancy_and_empties_the_node_when_it_fits(
    mesh_factory, tmp_path
):
    mesh = mesh_factory(3, **HEAL_ENV)
    files = {random_file(tmp_path / f"d{i}.bin", 3 * MiB + i, seed=60 + i): "" for i in range(3)}
    for src in files:
        files[src] = mesh.json("put", str(src), "--replicas", "3")["cap"]
    wait_healthy(mesh, len(files))

    refused = mesh.stratos("node", "drain", "storage-3", "--no-wait")
    assert_one_sentence_error(refused, "would leave 2 live storage nodes")
    assert not any(n["draining"] for n in mesh.json("health")["nodes"])

    mesh.stratos("dev", "add-storage", check=True, timeout=120)
    wait_healthy(mesh, len(files))
    done = mesh.json("node", "drain", "storage-3", timeout=180)
    assert done["state"] == "drained" and done["chunks_left"] == 0
    assert done["chunks_at_start"] > 0
    h = wait_healthy(mesh, len(files))
    node3 = next(n for n in h["nodes"] if n["node_id"] == "storage-3")
    assert node3["chunks"] == 0 and node3["draining"]
    assert mesh.status()["storage-3"]["draining"] is True  # dev status shows it per node
    wait_until(
        lambda: not mesh.chunk_files("storage-3"),
        timeout_s=30,
        interval_s=0.5,
        what="storage-3's chunk files to be deleted",
    )
    mesh.stratos("dev", "kill", "storage-3", check=True)  # no loss of redundancy
    assert_all_read_back(mesh, files, tmp_path)


def test_a_joining_node_takes_about_its_share(mesh_factory, tmp_path):
    mesh = mesh_factory(4, **HEAL_ENV)
    files = {random_file(tmp_path / f"j{i}.bin", 4 * MiB + i, seed=80 + i): "" for i in range(6)}
    for src in files:
        files[src] = mesh.json("put", str(src), "--replicas", "2")["cap"]
    wait_healthy(mesh, len(files))
    total = sum(copies_per_node(mesh).values())

    mesh.stratos("dev", "add-storage", check=True, timeout=120)
    wait_until(
        lambda: copies_per_node(mesh).get("storage-5", 0) > 0,
        timeout_s=60,
        interval_s=1,
        what="chunks to move onto storage-5",
    )
    wait_healthy(mesh, len(files))
    per_node = copies_per_node(mesh)
    assert sum(per_node.values()) == total  # moved, not copied: never over the target
    moved = per_node["storage-5"]
    assert 0 < moved <= 2 * total / 5, per_node  # about 1/(n+1) of the copies, not a reshuffle
    assert_all_read_back(mesh, files, tmp_path)


def holders_on_disk(mesh: Mesh, nodes: list[str]) -> dict[str, set[str]]:
    """Chunk ID → the nodes whose disks hold it (the files are named by chunk ID)."""
    out: dict[str, set[str]] = {}
    for node in nodes:
        for path in mesh.chunk_files(node):
            out.setdefault(path.name, set()).add(node)
    return out


def test_one_plus_m_files_keep_every_share_through_repair_rounds_and_a_node_loss(
    mesh_factory, tmp_path
):
    """With one data share every share has the same bytes, so the same chunk ID: the planner once
    saw "extra share copies" and deleted all of them two seconds after the put succeeded."""
    mesh = mesh_factory(4, **HEAL_ENV)
    nodes = [f"storage-{i}" for i in range(1, 5)]
    files = {}
    for m in (1, 2):
        src = random_file(tmp_path / f"one-plus-{m}.bin", 2 * MiB + m, seed=90 + m)
        files[src] = mesh.json("put", str(src), "--ec", f"1+{m}")["cap"]
    wait_healthy(mesh, len(files))
    spread = holders_on_disk(mesh, nodes)
    assert sorted(len(h) for h in spread.values()) == [2] * 1 + [3] * 1, spread
    # An absence cannot be waited for: watch a dozen planning rounds (0.5 s each) take nothing.
    watch_until = time.monotonic() + 6
    while time.monotonic() < watch_until:
        assert holders_on_disk(mesh, nodes) == spread
        h = mesh.json("health")
        assert h["healthy"] == 2 and h["bytes_to_repair"] == 0, h
    assert_all_read_back(mesh, files, tmp_path)

    (triple,) = [h for h in spread.values() if len(h) == 3]
    victim = sorted(triple)[0]
    mesh.stratos("dev", "kill", victim, check=True)
    mesh.wait_state(victim, "lost", timeout_s=30)
    wait_healthy(mesh, len(files))
    alive = [n for n in nodes if n != victim]
    after = holders_on_disk(mesh, alive)
    assert sorted(len(h) for h in after.values()) == [2, 3], after  # back on 3 live nodes
    assert_all_read_back(mesh, files, tmp_path)


def test_health_settles_after_a_loss_it_cannot_repair_and_says_why(mesh_factory, tmp_path):
    """On three nodes, losing one leaves an R=3 file with nowhere to put its third copy (stuck,
    with the reason) and an R=1 file unreadable (lost): neither is "to repair", and the ETA says
    never instead of "?". Adding a node unblocks the stuck copies; the lost bytes stay lost."""
    mesh = mesh_factory(3, **HEAL_ENV)
    three = mesh.json("put", str(random_file(tmp_path / "r3.bin", 2 * MiB, seed=5)))
    one = mesh.json("put", str(random_file(tmp_path / "r1.bin", MiB, seed=6)), "--replicas", "1")
    wait_healthy(mesh, 2)
    nodes = [f"storage-{i}" for i in range(1, 4)]
    single = {next(iter(h)) for h in holders_on_disk(mesh, nodes).values() if len(h) == 1}
    (victim,) = single  # the R=1 file's one node
    mesh.stratos("dev", "kill", victim, check=True)
    mesh.wait_state(victim, "lost", timeout_s=30)

    def settled():
        h = mesh.json("health")
        return h if h["unrecoverable"] == 1 and h["bytes_stuck"] and h["eta_reason"] else None

    h = wait_until(settled, timeout_s=60, interval_s=1, what="health to settle after the loss")
    assert (h["healthy"], h["degraded"], h["repairing"]) == (0, 1, 0), h
    assert h["bytes_to_repair"] == 0 and h["bytes_lost"] > 0, h
    assert [f["file_id"] for f in h["lost_files"]] == [one["id"]]
    assert "lost" in h["lost_files"][0]["reason"]
    [stuck] = h["stuck"]
    assert stuck["reason"] == "needs 3 distinct live storage nodes, 2 available", stuck
    assert stuck["chunks"] == three["segments"]
    assert h["eta_reason"].startswith("never"), h
    shown = mesh.stratos("health", check=True).stdout
    assert "never" in shown and "needs 3 distinct live storage nodes" in " ".join(shown.split())
    assert one["id"] in shown

    mesh.stratos("dev", "add-storage", check=True, timeout=120)

    def repaired():
        h = mesh.json("health")
        return h if h["healthy"] == 1 and not h["bytes_stuck"] else None

    h = wait_until(repaired, timeout_s=90, interval_s=1, what="the stuck copies to be made")
    assert h["unrecoverable"] == 1 and h["bytes_to_repair"] == 0 and h["eta_reason"] == ""
    out = tmp_path / "r3.out"
    mesh.stratos("get", three["cap"], "-o", str(out), check=True)
    assert same_bytes(tmp_path / "r3.bin", out)
