"""FileLocations in the STRATOS_LOCATIONS bucket of a real nats-server: results applied with
compare-and-set, replays changing nothing, and GetManifest handing locations to readers."""

from __future__ import annotations

import asyncio

import pytest
from index_support import build_manifest, heartbeat, new_file_id, running_index, sign

from stratos.common import natsutil
from stratos.common.identity import Identity
from stratos.index.locations import LocationStore, with_result
from stratos.index.manifests import ManifestStore
from stratos.index.pieces import manifest_holders
from stratos.v1 import index_pb2, repair_pb2, types_pb2

pytestmark = pytest.mark.integration

COPY, DELETE = repair_pb2.REPAIR_KIND_COPY, repair_pb2.REPAIR_KIND_DELETE


def result(file_id: str, chunk: str, node: str, kind=COPY, ok=True) -> repair_pb2.RepairResult:
    return repair_pb2.RepairResult(
        job_id="j", kind=kind, file_id=file_id, chunk_id=chunk, node_id=node, ok=ok
    )


def test_with_result_adds_removes_and_ignores_replays_and_failures() -> None:
    signed = {"c1": ["n1", "n2"], "c2": ["n1"]}
    empty = types_pb2.FileLocations(file_id="f")
    added = with_result(empty, result("f", "c1", "n3"), signed)
    assert [(c.chunk_id, list(c.node_ids)) for c in added.chunks] == [("c1", ["n1", "n2", "n3"])]
    assert with_result(added, result("f", "c1", "n3"), signed) is None
    assert with_result(empty, result("f", "c1", "n1"), signed) is None  # the manifest has it
    assert with_result(added, result("f", "c1", "n4", ok=False), signed) is None
    assert with_result(added, result("f", "nope", "n4"), signed) is None
    removed = with_result(added, result("f", "c1", "n1", kind=DELETE), signed)
    assert list(removed.chunks[0].node_ids) == ["n2", "n3"]
    assert with_result(removed, result("f", "c1", "n1", kind=DELETE), signed) is None
    emptied = with_result(empty, result("f", "c2", "n1", kind=DELETE), signed)
    assert [(c.chunk_id, list(c.node_ids)) for c in emptied.chunks] == [("c2", [])]


async def test_results_apply_with_compare_and_set_from_two_replicas_at_once(nats) -> None:
    a = await natsutil.connect(nats.url, name="replica-a")
    b = await natsutil.connect(nats.url, name="replica-b")
    try:
        store_a = await LocationStore.open(a.jetstream(), replicas=1)
        store_b = await LocationStore.open(b.jetstream(), replicas=1)
        fid = new_file_id()
        m = build_manifest(fid, nodes=("n1", "n2"))
        chunk = m.segments[0].chunk_id
        signed = manifest_holders(m)
        assert (await store_a.get(fid)) == types_pb2.FileLocations(file_id=fid)
        copies = [
            (store_a if i % 2 else store_b).apply(result(fid, chunk, f"x{i}"), signed)
            for i in range(12)
        ]
        assert all(await asyncio.gather(*copies))
        locs = await store_b.get(fid)
        assert sorted(locs.chunks[0].node_ids) == sorted(
            ["n1", "n2", *(f"x{i}" for i in range(12))]
        )
        # The same result again (a redelivery, or both replicas applying it) changes nothing.
        assert not await store_a.apply(result(fid, chunk, "x3"), signed)
        assert await store_a.apply(result(fid, chunk, "n1", kind=DELETE), signed)
        assert "n1" not in (await store_b.get(fid)).chunks[0].node_ids
        await store_b.delete(fid)
        assert (await store_a.get(fid)).chunks == []
        await store_b.delete(fid)  # already gone: fine
        # A file's locations may come back after a delete (its key was tombstoned).
        assert await store_a.apply(result(fid, chunk, "x0"), signed)
        assert "x0" in (await store_b.get(fid)).chunks[0].node_ids
        assert set(await store_a.all()) == {fid}
    finally:
        await a.close()
        await b.close()


async def test_get_manifest_returns_locations_and_the_new_holders_address(nats) -> None:
    owner = Identity.generate()
    async with running_index(nats.url) as idx:
        for node in ("n1", "n2", "n9"):
            idx.registry.observe(heartbeat(node))
        fid = new_file_id()
        m = build_manifest(fid, nodes=("n1", "n2"))
        await (await ManifestStore.open(idx.nc.jetstream(), replicas=1)).commit(sign(owner, m))
        resp = await idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id=fid))
        assert resp.locations == types_pb2.FileLocations(file_id=fid)
        assert [n.node_id for n in resp.nodes] == ["n1", "n2"]

        store = await LocationStore.open(idx.nc.jetstream(), replicas=1)
        chunk = m.segments[0].chunk_id
        await store.apply(result(fid, chunk, "n9"), manifest_holders(m))
        resp = await idx.stub.GetManifest(index_pb2.GetManifestRequest(file_id=fid))
        assert [(c.chunk_id, list(c.node_ids)) for c in resp.locations.chunks] == [
            (chunk, ["n1", "n2", "n9"])
        ]
        by_id = {n.node_id: n.address for n in resp.nodes}
        assert by_id["n9"] == idx.registry.get("n9").info.address
