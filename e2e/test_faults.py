"""Faults a local mesh must survive: dead and restarted nodes, a dead index, corrupt chunks,
too few nodes, and a node killed in the middle of an upload."""

from __future__ import annotations

import os
import signal

from e2e.conftest import random_file, same_bytes
from e2e.test_files import assert_one_sentence_error
from stratos.common.procs import wait_until

MiB = 1 << 20


def test_fewer_live_nodes_than_replicas_is_refused_before_any_byte(mesh_factory, tmp_path):
    mesh = mesh_factory(3)
    mesh.stratos("dev", "kill", "storage-3", check=True)
    mesh.wait_state("storage-3", "suspect", "lost")  # no longer live
    before = {n: mesh.chunk_files(n) for n in ("storage-1", "storage-2")}
    src = random_file(tmp_path / "a.bin", 2 * MiB)
    proc = mesh.stratos("put", str(src), "--replicas", "3")
    assert_one_sentence_error(proc, "only 2 storage nodes are live")
    assert {n: mesh.chunk_files(n) for n in before} == before
    assert mesh.json("ls") == []


def test_sigkill_one_of_three_nodes_every_file_reads_back_and_it_rejoins(mesh_factory, tmp_path):
    mesh = mesh_factory(3)
    files = [random_file(tmp_path / f"f{i}.bin", (i + 1) * 3 * MiB + i, seed=i) for i in range(3)]
    caps = [mesh.json("put", str(f))["cap"] for f in files]

    mesh.stratos("dev", "kill", "storage-2", check=True)
    assert not mesh.status()["storage-2"]["running"]
    for f, cap in zip(files, caps, strict=True):
        out = tmp_path / (f.name + ".out")
        mesh.stratos("get", cap, "-o", str(out), check=True)
        assert same_bytes(f, out)

    mesh.stratos("dev", "start", "storage-2", check=True)
    mesh.wait_state("storage-2", "live")
    assert len(mesh.chunk_files("storage-2")) > 0  # its chunks survived the crash


def test_index_sigkilled_and_restarted_serves_every_file(mesh_factory, tmp_path):
    mesh = mesh_factory(3)
    files = [random_file(tmp_path / f"g{i}.bin", MiB + i, seed=10 + i) for i in range(3)]
    caps = {}
    for f in files:
        put = mesh.json("put", str(f))
        caps[put["id"]] = (f, put["cap"])

    mesh.stratos("dev", "kill", "index", check=True)
    mesh.stratos("dev", "start", "index", check=True)
    assert {f["id"] for f in mesh.json("ls")} >= set(caps)
    for fid, (f, cap) in caps.items():
        out = tmp_path / f"{fid}.out"
        mesh.stratos("get", cap, "-o", str(out), check=True)
        assert same_bytes(f, out)


def test_a_chunk_altered_on_disk_is_detected_and_read_from_another_replica(mesh_factory, tmp_path):
    mesh = mesh_factory(3)
    src = random_file(tmp_path / "c.bin", 5 * MiB, seed=7)
    put = mesh.json("put", str(src))
    # damage every chunk on two of the three nodes: only one good copy of each segment remains
    for node in ("storage-1", "storage-2"):
        for chunk in mesh.chunk_files(node):
            data = bytearray(chunk.read_bytes())
            data[len(data) // 2] ^= 0xFF
            chunk.write_bytes(bytes(data))
    out = tmp_path / "c.out"
    mesh.stratos("get", put["cap"], "-o", str(out), check=True)
    assert same_bytes(src, out)


def _kill_during_put(mesh, src, victim: str):
    """Start a put, SIGKILL `victim` as soon as chunks land on it (the pid recorded by the
    launcher, so the kill is immediate); returns (code, stdout, stderr)."""
    pid = mesh.status()[victim]["pid"]
    proc = mesh.popen("put", str(src), "--segment-size", "1MiB", "--json")
    wait_until(
        lambda: mesh.chunk_files(victim) or proc.poll() is not None,
        timeout_s=60,
        interval_s=0.02,
        what="the upload to reach " + victim,
    )
    assert proc.poll() is None, "the put finished before the node could be killed"
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert "Traceback" not in stderr
    return proc.returncode, stdout, stderr


def test_a_node_sigkilled_during_a_put_the_put_completes_on_other_nodes(mesh_factory, tmp_path):
    import json

    mesh = mesh_factory(4)
    src = random_file(tmp_path / "big.bin", 96 * MiB, seed=3)
    code, stdout, stderr = _kill_during_put(mesh, src, "storage-2")
    assert code == 0, stderr
    put = json.loads(stdout)
    assert [f["id"] for f in mesh.json("ls")] == [put["id"]]
    stat = mesh.json("stat", put["id"])
    assert all(len(seg["nodes"]) == 3 for seg in stat["segments"])
    out = tmp_path / "big.out"
    mesh.stratos("get", put["cap"], "-o", str(out), check=True)
    assert same_bytes(src, out)


def test_a_node_sigkilled_during_a_put_with_no_spare_fails_cleanly(mesh_factory, tmp_path):
    mesh = mesh_factory(3)
    src = random_file(tmp_path / "big.bin", 96 * MiB, seed=4)
    code, _stdout, stderr = _kill_during_put(mesh, src, "storage-3")
    assert code != 0
    assert stderr.strip().splitlines()[-1].startswith("error:")
    assert mesh.json("ls") == []  # nothing half-written is listed


def test_a_full_storage_node_is_skipped_by_placement(mesh_factory, tmp_path):
    import json

    mesh = mesh_factory(4)
    # restart storage-4 with room for less than one segment: it stays live but is full
    doc = json.loads((mesh.home / "run" / "mesh.json").read_text())
    for proc in doc["processes"]:
        if proc["name"] == "storage-4":
            proc["env"]["STRATOS_CAPACITY_BYTES"] = str(MiB)
    mesh.stratos("dev", "kill", "storage-4", check=True)
    (mesh.home / "run" / "mesh.json").write_text(json.dumps(doc))
    mesh.stratos("dev", "start", "storage-4", check=True)
    wait_until(
        lambda: mesh.status()["storage-4"].get("capacity_bytes") == MiB,
        timeout_s=30,
        what="storage-4 to report its new capacity",
    )
    files = [random_file(tmp_path / f"h{i}.bin", 6 * MiB, seed=20 + i) for i in range(4)]
    for f in files:
        mesh.json("put", str(f))
    assert mesh.chunk_files("storage-4") == []
    assert mesh.status()["storage-4"]["state"].lower() == "live"
