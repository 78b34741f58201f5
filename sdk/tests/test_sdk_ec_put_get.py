"""Erasure coding end to end, driven through the real `stratos` CLI against a local mesh of six
storage nodes: `put --ec 4+2` spreads every segment's six shares over six nodes, any two nodes
can be SIGKILLed and `get` still returns the exact bytes, and a code needing more live nodes
than there are is refused before a single byte is stored."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from devharness import Dev

from stratos.common.procs import wait_until
from stratos.v1 import storage_pb2, storage_pb2_grpc

pytestmark = pytest.mark.integration

SEG = 64 * 1024


@pytest.fixture(scope="module")
def mesh(tmp_path_factory) -> Iterator[Dev]:
    d = Dev(tmp_path_factory.mktemp("ec") / "home")
    # No audits: they would find the shares these tests corrupt on purpose, and repair would
    # re-encode them between two steps of a test, sooner or later depending on the machine.
    d.env["STRATOS_AUDITS_PER_ROUND"] = "0"
    try:
        d.run("dev", "up", "--storage-nodes", "6", "--validators", "0", timeout=180)
        yield d
    finally:
        d.close()


def storage_addresses(dev: Dev) -> dict[str, str]:
    return {p["name"]: p["address"] for p in dev.mesh()["processes"] if p["kind"] == "storage"}


def chunk_counts(dev: Dev, names: list[str]) -> dict[str, int]:
    """Chunks each named node holds, asked of the node itself (not its last heartbeat)."""
    counts = {}
    for name in names:
        with grpc.secure_channel(storage_addresses(dev)[name], dev.channel_credentials()) as ch:
            resp = storage_pb2_grpc.StorageServiceStub(ch).Stat(
                storage_pb2.StatRequest(), timeout=5
            )
        counts[name] = resp.chunk_count
    return counts


def live_storage(dev: Dev) -> set[str]:
    return {n for n, r in dev.status().items() if r["kind"] == "storage" and r["state"] == "LIVE"}


def test_ec_4_2_survives_two_killed_nodes_and_refuses_a_code_too_wide(mesh, tmp_path):
    src = tmp_path / "data.bin"
    data = os.urandom(3 * SEG + 12_345)  # four segments, the last short
    src.write_bytes(data)

    put = mesh.json("put", str(src), "--ec", "4+2", "--segment-size", "64KiB")
    assert (put["erasure"], put["replicas"], put["segments"]) == ("ec 4+2", 1, 4)

    st = mesh.json("stat", put["id"])
    assert st["erasure"] == "ec 4+2"
    all_nodes = set(storage_addresses(mesh))
    for seg in st["segments"]:
        holders = [n for share in seg["shares"] for n in share["nodes"]]
        assert [s["index"] for s in seg["shares"]] == list(range(6))
        assert len(holders) == 6 and set(holders) == all_nodes  # one share per node
        assert {s["size"] for s in seg["shares"]} == {-(-seg["stored_size"] // 4)}
    table = mesh.run("stat", put["id"]).stdout
    assert "ec 4+2" in table and "6/6" in table

    # Two share holders die; the index has not noticed yet, so get must skip them itself.
    mesh.run("dev", "kill", "storage-2")
    mesh.run("dev", "kill", "storage-5")
    out = tmp_path / "back.bin"
    mesh.run("get", put["cap"], "-o", str(out))
    assert out.read_bytes() == data

    # Once the index sees them gone, reads go to live nodes first; still byte-identical.
    wait_until(lambda: len(live_storage(mesh)) == 4, timeout_s=30, what="4 live storage nodes")
    out.unlink()
    mesh.run("get", put["id"], "-o", str(out))
    assert out.read_bytes() == data

    # 4+1 needs five nodes with one share each; four are live: refused, nothing stored.
    survivors = sorted(live_storage(mesh))
    before = chunk_counts(mesh, survivors)
    listed = mesh.json("ls")
    refused = mesh.run("put", str(src), "--ec", "4+1", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line == (
        "error: erasure code 4+1 needs 5 live storage nodes (one per share) but only 4 are live"
    )
    assert chunk_counts(mesh, survivors) == before
    assert mesh.json("ls") == listed

    # A narrower code fits the four survivors.
    small = mesh.json("put", str(src), "--ec", "2+2", "--segment-size", "64KiB")
    out.unlink()
    mesh.run("get", small["cap"], "-o", str(out))
    assert out.read_bytes() == data


def test_an_empty_file_round_trips_with_ec(mesh, tmp_path):
    src = tmp_path / "empty"
    src.write_bytes(b"")
    put = mesh.json("put", str(src), "--ec", "2+1")
    out = tmp_path / "empty.out"
    mesh.run("get", put["cap"], "-o", str(out))
    assert out.read_bytes() == b"" and put["segments"] == 0


def test_put_json_is_parseable_and_names_the_code(mesh, tmp_path):
    src = tmp_path / "one"
    src.write_bytes(b"x")
    res = json.loads(mesh.run("put", str(src), "--ec", "2+1", "--json").stdout)
    assert res["erasure"] == "ec 2+1" and res["size"] == 1
    back = Path(tmp_path / "one.out")
    mesh.run("get", res["id"], "-o", str(back))
    assert back.read_bytes() == b"x"


def chunk_file(dev: Dev, node: str, chunk: str) -> Path:
    data_dir = next(Path(p["data_dir"]) for p in dev.mesh()["processes"] if p["name"] == node)
    [found] = list((data_dir / "chunks").rglob(chunk))
    return found


def flip_first_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_corrupt_share_is_skipped_and_too_many_is_one_sentence(mesh, tmp_path):
    src = tmp_path / "c.bin"
    data = os.urandom(5000)
    src.write_bytes(data)
    put = mesh.json("put", str(src), "--ec", "2+1")
    [seg] = mesh.json("stat", put["id"])["segments"]
    shares = {s["index"]: (s["chunk_id"], next(iter(s["nodes"]))) for s in seg["shares"]}

    flip_first_byte(chunk_file(mesh, shares[0][1], shares[0][0]))  # a data share
    out = tmp_path / "c.out"
    mesh.run("get", put["cap"], "-o", str(out))
    assert out.read_bytes() == data

    flip_first_byte(chunk_file(mesh, shares[2][1], shares[2][0]))  # and the parity share
    out.unlink()
    failed = mesh.run("get", put["cap"], "-o", str(out), check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    [line] = failed.stderr.strip().splitlines()
    assert line.startswith("error: segment 0 of file ") and "only 1 of the 2 shares" in line
    assert not out.exists() and not list(out.parent.glob(".*.part"))


def test_a_node_killed_just_before_a_put_gets_no_share(mesh, tmp_path):
    """Killed, and perhaps still LIVE to the index for a moment: every share lands elsewhere,
    still one per node."""
    victim = sorted(live_storage(mesh))[0]
    mesh.run("dev", "kill", victim)
    src = tmp_path / "f.bin"
    data = os.urandom(8 * 65536 + 1)
    src.write_bytes(data)
    put = mesh.json("put", str(src), "--ec", "2+1", "--segment-size", "64KiB")
    for seg in mesh.json("stat", put["id"])["segments"]:
        holders = [n for share in seg["shares"] for n in share["nodes"]]
        assert len(set(holders)) == 3 and victim not in holders
    out = tmp_path / "f.out"
    mesh.run("get", put["cap"], "-o", str(out))
    assert out.read_bytes() == data
