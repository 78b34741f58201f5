"""An erasure-coded file after the mesh repaired it: the re-encoded share lives on a node the
signed manifest never named, and `get` finds it through the index's current locations."""

from __future__ import annotations

import os

import grpc
import pytest
from devharness import Dev

from stratos.common.procs import wait_until
from stratos.v1 import index_pb2, index_pb2_grpc

pytestmark = pytest.mark.integration


def test_get_reads_a_repaired_share_from_its_current_location(tmp_path):
    dev = Dev(tmp_path / "home")
    try:
        dev.run("dev", "up", "--storage-nodes", "4", "--validators", "0", timeout=180)
        src = tmp_path / "f.bin"
        data = os.urandom(20_000)
        src.write_bytes(data)
        put = dev.json("put", str(src), "--ec", "2+1")
        [seg] = dev.json("stat", put["id"])["segments"]
        written = [next(iter(s["nodes"])) for s in seg["shares"]]
        spare = ({f"storage-{i}" for i in range(1, 5)} - set(written)).pop()

        dev.run("dev", "kill", written[0])

        index = next(p["address"] for p in dev.mesh()["processes"] if p["name"] == "index")
        lost = seg["shares"][0]["chunk_id"]

        def repaired() -> bool:
            with grpc.secure_channel(index, dev.channel_credentials()) as ch:
                resp = index_pb2_grpc.IndexServiceStub(ch).GetManifest(
                    index_pb2.GetManifestRequest(file_id=put["id"]), timeout=5
                )
            return any(c.chunk_id == lost and spare in c.node_ids for c in resp.locations.chunks)

        wait_until(repaired, timeout_s=90, interval_s=1, what=f"share 0 re-encoded on {spare}")
        # Left: the parity share's node and the spare, which only the locations name.
        dev.run("dev", "kill", written[1])
        out = tmp_path / "f.out"
        dev.run("get", put["cap"], "-o", str(out))
        assert out.read_bytes() == data
    finally:
        dev.close()
